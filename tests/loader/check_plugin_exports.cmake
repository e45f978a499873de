# Asserts that a plugin library exports exactly one symbol of its own: the C ABI entry
# point, as a function. Everything else must stay inside the .so, so that two plugins
# (or a plugin and the host) can never bind to each other's code.
#
#   cmake -DNM=/usr/bin/nm -DLIBRARY=libsignal_hightouch.so -P check_plugin_exports.cmake
#
# Tolerated besides the entry point: libstdc++'s vague-linkage template symbols (type
# info and names, function-local statics and their guards), which the linker keeps
# global whatever the visibility settings, and, when weak (nm V or W), vtables of classes
# in namespace std and their const member functions: the sanitizer and coverage builds
# emit some (std::_Sp_counted_base's vtable, std::type_info::operator==) that an optimised
# build inlines away. Fails listing every other exported symbol.
cmake_minimum_required(VERSION 3.25)

foreach(required NM LIBRARY)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "check_plugin_exports: pass -D${required}=...")
  endif()
endforeach()
set(entry signal_plugin_descriptor_v1)
set(tolerated_prefixes "^(_ZTI|_ZTS|_ZZNSt|_ZNSt|_ZGVZNSt)")
set(tolerated_weak_prefixes "^(_ZTVN?St|_ZNKSt)")

execute_process(
  COMMAND ${NM} -D --defined-only ${LIBRARY}
  OUTPUT_VARIABLE listing
  ERROR_VARIABLE nm_errors
  RESULT_VARIABLE nm_result)
if(NOT nm_result EQUAL 0)
  message(FATAL_ERROR "check_plugin_exports: ${NM} failed on ${LIBRARY}: ${nm_errors}")
endif()

string(REPLACE "\n" ";" lines "${listing}")
set(entry_type "")
set(unexpected "")
set(tolerated 0)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  # "ADDRESS TYPE NAME"
  if(NOT line MATCHES "^[0-9a-fA-F]+ ([A-Za-z]) (.+)$")
    list(APPEND unexpected "(unreadable nm line) ${line}")
    continue()
  endif()
  set(type "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  if(name STREQUAL entry)
    set(entry_type "${type}")
  elseif(name MATCHES "${tolerated_prefixes}" OR
         (name MATCHES "${tolerated_weak_prefixes}" AND type MATCHES "^[VW]$"))
    math(EXPR tolerated "${tolerated} + 1")
  else()
    list(APPEND unexpected "${type} ${name}")
  endif()
endforeach()

set(problems "")
if(entry_type STREQUAL "")
  string(APPEND problems " does not export ${entry};")
elseif(NOT entry_type STREQUAL "T")
  string(APPEND problems " exports ${entry} as nm type '${entry_type}', not a function (T);")
endif()
if(unexpected)
  list(LENGTH unexpected count)
  list(JOIN unexpected ", " joined)
  string(APPEND problems " exports ${count} symbol(s) beyond the entry point: ${joined};")
endif()
if(problems)
  # One unwrapped line (FATAL_ERROR text is re-wrapped) that tests can match.
  message("check_plugin_exports: ${LIBRARY}:${problems}")
  message(FATAL_ERROR "check_plugin_exports: ${LIBRARY} must export ${entry} and nothing else")
endif()
message(STATUS "${LIBRARY}: exports only ${entry} (plus ${tolerated} libstdc++ template symbols)")
