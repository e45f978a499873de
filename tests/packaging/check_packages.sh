#!/usr/bin/env bash
# The packages hold what they should, and the runtime package depends on the Debian
# package of every shared library its binaries link (as dpkg-shlibdeps found them).
# Usage: check_packages.sh STATE VERSION
source "$(dirname "$0")/lib.sh"
work=$(packaging_work_dir "$1")
version=$2
debs=$work/debs
host_deb=$debs/signal-delivery-host_${version}_amd64.deb
dev_deb=$debs/signal-delivery-host-dev_${version}_amd64.deb
sandbox_deb=$debs/signal-delivery-host-sandbox_${version}_amd64.deb

# Whole outputs go into variables before grep -q reads them: with pipefail, a writer cut
# off by grep's early exit would fail the check.
contents() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's#^\./#/#; s#/$##'; }
expect_file() {  # package-file path
  local files
  files=$(contents "$1")
  grep -qxF "$2" <<<"$files" || fail "$(basename "$1") lacks $2"
}
refuse_file() {  # package-file ERE
  local files
  files=$(contents "$1")
  if grep -E "$2" <<<"$files"; then fail "$(basename "$1") must not hold files matching $2"; fi
}

for path in /usr/bin/signal-delivery-host /usr/bin/signal-plugin /usr/lib/libsignal_interface.so.1 \
            /usr/lib/signal/plugins/libsignal_hightouch.so /etc/signal/signal-delivery-host.yaml \
            /usr/lib/systemd/system/signal-delivery-host.service /var/lib/signal \
            /usr/share/man/man1/signal-delivery-host.1.gz /usr/share/man/man1/signal-plugin.1.gz; do
  expect_file "$host_deb" "$path"
done
refuse_file "$host_deb" '^/usr/include|/cmake/|fake-hightouch|\.proto$|/libsignal_interface\.so$'

for path in /usr/include/signal-plugin/signal_plugin_abi.h \
            /usr/include/signal-plugin/signal_libc_guard.h \
            /usr/include/signal-plugin/signal/integration/v1/integration.grpc.pb.h \
            /usr/include/signal-plugin/signal/integration/v1/integration.pb.h \
            /usr/share/signal-plugin/proto/signal/integration/v1/integration.proto \
            /usr/lib/cmake/SignalPlugin/SignalPluginConfig.cmake \
            /usr/lib/cmake/SignalPlugin/SignalPluginConfigVersion.cmake \
            /usr/lib/libsignal_interface.so /usr/share/doc/signal-delivery-host-dev/PLUGINS.md \
            /usr/share/doc/signal-delivery-host-dev/examples/webhook-plugin/CMakeLists.txt; do
  expect_file "$dev_deb" "$path"
done
refuse_file "$dev_deb" '^/usr/bin|/plugins/'

expect_file "$sandbox_deb" /usr/bin/fake-hightouch
sandbox_files=$(contents "$sandbox_deb")
[[ $(grep -c '^/usr/bin/' <<<"$sandbox_files") == 1 ]] || fail "the sandbox holds more than fake-hightouch"

# Control fields.
depends=$(dpkg-deb -f "$host_deb" Depends)
echo "signal-delivery-host Depends: $depends"
dev_depends=$(dpkg-deb -f "$dev_deb" Depends)
grep -qF "signal-delivery-host (= $version)" <<<"$dev_depends" ||
  fail "the -dev package must depend on the same host version"
# Whether Depends names package $1 (any version).
depends_on() {
  local names
  names=$(tr ',' '\n' <<<"$depends" | awk '{print $1}')
  grep -qxF "$1" <<<"$names"
}
for needed in adduser libgrpc++1.51 libprotobuf32 libyaml-cpp0.7 libcurl4 libsqlite3-0 libssl3 zlib1g; do
  depends_on "$needed" || fail "Depends lacks $needed"
done
# The Debian package that installed file $1 (as named, or the file a link leads to).
owning_package() {
  local owners
  owners=$(dpkg -S "$1" 2>/dev/null) || owners=$(dpkg -S "$(readlink -f "$1")" 2>/dev/null) ||
    return 1
  sed -n '1s/:.*//p' <<<"$owners"
}
# Every library the binaries link, other than the package's own interface library, comes
# from a Debian package that Depends names.
root=$work/root
library_cache=$(ldconfig -p)
for binary in "$root/usr/bin/signal-delivery-host" "$root/usr/bin/signal-plugin" \
              "$root/usr/lib/signal/plugins/libsignal_hightouch.so"; do
  for soname in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [[ $soname == libsignal_interface.so.1 ]] && continue
    library=$(awk -v name="$soname" '$1 == name && /x86-64/ {print $NF; exit}' <<<"$library_cache")
    [[ -n "$library" ]] || fail "$soname (linked by $binary) is not on this system"
    package=$(owning_package "$library") || fail "no Debian package owns $library"
    depends_on "$package" ||
      fail "$(basename "$binary") links $soname from $package, which Depends does not name"
  done
done

# Maintainer scripts: shell-clean, and naming the user and paths the unit names.
control=$work/control
rm -rf "$control"
dpkg-deb -e "$host_deb" "$control"
grep -qxF /etc/signal/signal-delivery-host.yaml "$control/conffiles" || fail "the config is no conffile"
shellcheck -s sh "$control/postinst" "$control/prerm" "$control/postrm"
unit=$root/usr/lib/systemd/system/signal-delivery-host.service
unit_user=$(sed -n 's/^User=//p' "$unit")
grep -qx "user=$unit_user" "$control/postinst" || fail "postinst does not create the unit's user $unit_user"
grep -qx "data_dir=$(sed -n 's/^ReadWritePaths=//p' "$unit")" "$control/postinst" ||
  fail "postinst does not prepare the unit's writable data dir"
grep -qx "env_file=$(sed -n 's/^EnvironmentFile=//p' "$unit")" "$control/postinst" ||
  fail "postinst does not write the unit's environment file"
echo "packages ok"
