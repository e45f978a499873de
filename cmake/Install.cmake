# Install rules: `cmake --install build --prefix P [--component C]` lays out
#
#   P/bin/signal-delivery-host, signal-plugin          component host
#   P/lib/libsignal_interface.so.1*                    component host (the runtime interface)
#   P/lib/signal/plugins/libsignal_hightouch.so        component host
#   P/etc/signal/signal-delivery-host.yaml             component host (/etc when P is /usr)
#   P/var/lib/signal/ (empty, mode 0700)               component host (/var when P is /usr)
#   P/lib/systemd/system/signal-delivery-host.service  component host
#   P/share/man/man1/*.1.gz, P/share/doc/...           component host
#   P/include/signal-plugin/, P/share/signal-plugin/proto/,
#   P/lib/cmake/SignalPlugin/, P/lib/libsignal_interface.so   component dev (the plugin SDK)
#   P/bin/fake-hightouch                               component sandbox (tests only)
#
# The host finds its plugins relative to its own binary, so the tree can be moved.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SIGNAL_INSTALL_PLUGINDIR lib/signal/plugins)
set(SIGNAL_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/signal-plugin)
set(SIGNAL_INSTALL_PROTODIR ${CMAKE_INSTALL_DATADIR}/signal-plugin/proto)
set(SIGNAL_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/SignalPlugin)
set(SIGNAL_INSTALL_UNITDIR lib/systemd/system)
set(SIGNAL_INSTALL_DOCDIR ${CMAKE_INSTALL_DATADIR}/doc/signal-delivery-host)
set(SIGNAL_INSTALL_DEV_DOCDIR ${CMAKE_INSTALL_DATADIR}/doc/signal-delivery-host-dev)
set(SIGNAL_SYSTEM_USER signal)

# The relative paths the installed binaries use to find their neighbours.
file(RELATIVE_PATH SIGNAL_PLUGINDIR_FROM_BINDIR
  /prefix/${CMAKE_INSTALL_BINDIR} /prefix/${SIGNAL_INSTALL_PLUGINDIR})
file(RELATIVE_PATH SIGNAL_LIBDIR_FROM_BINDIR
  /prefix/${CMAKE_INSTALL_BINDIR} /prefix/${CMAKE_INSTALL_LIBDIR})
target_compile_definitions(signal_host_daemon_config PRIVATE
  SIGNAL_PLUGIN_DIR_FROM_BINDIR="${SIGNAL_PLUGINDIR_FROM_BINDIR}")

# The interface library gets a SONAME: plugins built against the SDK record it, and the
# host's copy satisfies it when a plugin is loaded. It follows the interface version.
set_target_properties(signal_interface PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION 1)
# A plugin is dlopen()ed by path, never linked against: it needs no SONAME.
set_target_properties(signal_hightouch PROPERTIES NO_SONAME ON)
set_target_properties(signal-delivery-host signal-plugin PROPERTIES
  INSTALL_RPATH "$ORIGIN/${SIGNAL_LIBDIR_FROM_BINDIR}")

# --- host ------------------------------------------------------------------------------
install(TARGETS signal-delivery-host signal-plugin
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT host)
install(TARGETS signal_interface
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT host NAMELINK_COMPONENT dev)
install(TARGETS signal_hightouch
  LIBRARY DESTINATION ${SIGNAL_INSTALL_PLUGINDIR} COMPONENT host NAMELINK_SKIP)

# Files that name installed paths are configured at install time, from the prefix the
# install really uses (`--prefix`, or /usr when CPack stages the Debian package), and
# /usr's configuration goes to /etc as GNUInstallDirs does.
set(SIGNAL_SYSTEM_FILES_SCRIPT ${CMAKE_CURRENT_BINARY_DIR}/SignalInstallSystemFiles.cmake)
configure_file(${CMAKE_CURRENT_LIST_DIR}/InstallSystemFiles.cmake.in
  ${SIGNAL_SYSTEM_FILES_SCRIPT} @ONLY)
install(SCRIPT ${SIGNAL_SYSTEM_FILES_SCRIPT} COMPONENT host)

install(FILES README.md docs/API.md docs/ARCHITECTURE.md
  DESTINATION ${SIGNAL_INSTALL_DOCDIR} COMPONENT host)
install(FILES packaging/signal-delivery-host.env.example
  DESTINATION ${SIGNAL_INSTALL_DOCDIR}/examples COMPONENT host)

# --- man pages, from each binary's --help ---------------------------------------------
find_program(HELP2MAN_PROGRAM help2man)
if(HELP2MAN_PROGRAM)
  set(man_pages)
  foreach(spec
      "signal-delivery-host|loads Signal integration plugins and delivers events durably|host"
      "signal-plugin|drives a Signal integration plugin over its gRPC interface|host"
      "fake-hightouch|a local stand-in for Hightouch's Events and REST APIs|sandbox")
    string(REPLACE "|" ";" spec "${spec}")
    list(GET spec 0 program)
    list(GET spec 1 summary)
    list(GET spec 2 component)
    if(NOT TARGET ${program})
      continue()
    endif()
    set(page ${CMAKE_CURRENT_BINARY_DIR}/man/${program}.1)
    add_custom_command(OUTPUT ${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/man
      COMMAND ${HELP2MAN_PROGRAM} --no-info --no-discard-stderr
              --version-string=${PROJECT_VERSION} --name=${summary}
              --output=${page} $<TARGET_FILE:${program}>
      COMMAND gzip -9nf ${page}
      DEPENDS ${program}
      COMMENT "Man page for ${program}"
      VERBATIM)
    list(APPEND man_pages ${page}.gz)
    install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ${component})
  endforeach()
  add_custom_target(signal_man_pages ALL DEPENDS ${man_pages})
else()
  message(STATUS "help2man not found: no man pages (scripts/install-deps.sh installs it)")
endif()

# --- dev: the plugin SDK ----------------------------------------------------------------
get_target_property(SIGNAL_PROTO_GEN_DIR signal_interface INTERFACE_INCLUDE_DIRECTORIES)
list(GET SIGNAL_PROTO_GEN_DIR 0 SIGNAL_PROTO_GEN_DIR)
install(FILES abi/signal_plugin_abi.h proto/signal_libc_guard.h
  DESTINATION ${SIGNAL_INSTALL_INCLUDEDIR} COMPONENT dev)
install(DIRECTORY ${SIGNAL_PROTO_GEN_DIR}/
  DESTINATION ${SIGNAL_INSTALL_INCLUDEDIR} COMPONENT dev
  FILES_MATCHING PATTERN "*.pb.h")
install(DIRECTORY proto/
  DESTINATION ${SIGNAL_INSTALL_PROTODIR} COMPONENT dev
  FILES_MATCHING PATTERN "*.proto")
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/SignalPluginConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/SignalPluginConfig.cmake
  INSTALL_DESTINATION ${SIGNAL_INSTALL_CMAKEDIR}
  PATH_VARS SIGNAL_INSTALL_INCLUDEDIR SIGNAL_INSTALL_PROTODIR SIGNAL_INSTALL_PLUGINDIR
            CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/SignalPluginConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/SignalPluginConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/SignalPluginConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/signal_plugin.map
  DESTINATION ${SIGNAL_INSTALL_CMAKEDIR} COMPONENT dev)
install(FILES docs/PLUGINS.md DESTINATION ${SIGNAL_INSTALL_DEV_DOCDIR} COMPONENT dev)
install(DIRECTORY examples/webhook-plugin
  DESTINATION ${SIGNAL_INSTALL_DEV_DOCDIR}/examples COMPONENT dev)

# --- sandbox: the fake Hightouch, for operators trying the host without Hightouch -------
if(TARGET fake-hightouch)
  install(TARGETS fake-hightouch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT sandbox)
endif()
