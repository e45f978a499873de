#!/usr/bin/env bash
# The packaged unit passes `systemd-analyze verify` and names only paths the package
# lays out (or its postinst creates). verify checks that ExecStart's binary exists and
# that the Documentation= man page opens, so it runs on a copy of the unit whose
# absolute paths point into the extracted root, with MANPATH there too.
# Usage: systemd_unit_test.sh STATE
source "$(dirname "$0")/lib.sh"
work=$(packaging_work_dir "$1")
root=$work/root
unit=$root/usr/lib/systemd/system/signal-delivery-host.service
[[ -f "$unit" ]] || fail "the package has no unit at /usr/lib/systemd/system"

value() { sed -n "s/^$1=//p" "$unit"; }
read -r exec_binary exec_rest <<<"$(value ExecStart)"
[[ -x "$root$exec_binary" ]] || fail "ExecStart names $exec_binary, not in the package"
config=$(sed -n 's/.*--config \([^ ]*\).*/\1/p' <<<"$exec_rest")
[[ -f "$root$config" ]] || fail "ExecStart's --config $config is not in the package"
data_dir=$(value ReadWritePaths)
[[ -d "$root$data_dir" ]] || fail "ReadWritePaths=$data_dir is not in the package"
grep -q "^data_dir: $data_dir$" "$root$config" || fail "$config does not keep its data in $data_dir"
env_file=$(value EnvironmentFile)
postinst=$(dpkg-deb --ctrl-tarfile "$work/debs/"signal-delivery-host_*_amd64.deb | tar -xO ./postinst)
grep -qxF "env_file=$env_file" <<<"$postinst" || fail "nothing creates EnvironmentFile=$env_file"
[[ $(value User) == signal && $(value Group) == signal ]] || fail "the unit must run as user signal"
for setting in NoNewPrivileges=yes PrivateTmp=yes ProtectSystem=strict ProtectHome=yes \
                CapabilityBoundingSet= ; do
  grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
done

checked=$work/unit-check
rm -rf "$checked"
mkdir -p "$checked"
sed -E "s#(=|[ ])/(usr|etc|var)/#\1$root/\2/#g" "$unit" >"$checked/signal-delivery-host.service"
# verify reports unknown keys and bad values on stderr but may still exit 0.
MANPATH=$root/usr/share/man systemd-analyze verify "$checked/signal-delivery-host.service" \
  >"$checked/verify.out" 2>&1 || { cat "$checked/verify.out" >&2; fail "systemd-analyze verify failed"; }
[[ ! -s "$checked/verify.out" ]] || { cat "$checked/verify.out" >&2; fail "systemd-analyze verify warned"; }
exposure=$(systemd-analyze security --offline=true "$checked/signal-delivery-host.service" 2>&1 |
  sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze verify: clean; security exposure: $exposure (0 safest, 10 unsafe)"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' || fail "exposure $exposure is over 2.0"
