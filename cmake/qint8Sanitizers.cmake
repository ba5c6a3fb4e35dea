# Sanitizer and fuzzing builds of the project's own targets (never propagated to consumers).
#
#   -DQINT8_SANITIZE=address,undefined   ASan + UBSan (gcc or clang)
#   -DQINT8_SANITIZE=thread              TSan (clang recommended: see docs/reliability.md)
#   -DQINT8_FUZZ=ON                      libFuzzer targets in tests/fuzz (clang only)
#
# The flags go on qint8_project_flags, which every executable of the project links, so the
# tests, tools and fuzz targets are instrumented and the installed headers stay untouched.
# oneDNN, protobuf and the OpenMP runtime come from Debian uninstrumented: ASan and UBSan still
# check every access the project's code makes; TSan needs the suppressions in tests/sanitizers/.
set(QINT8_SANITIZE "" CACHE STRING "Comma-separated sanitizers for the project's own targets (address,undefined / thread)")
option(QINT8_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)

if(QINT8_SANITIZE)
  string(REPLACE "," ";" _qint8_san_list "${QINT8_SANITIZE}")
  foreach(_s ${_qint8_san_list})
    if(NOT _s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "QINT8_SANITIZE: unknown sanitizer '${_s}' (expected address, undefined, leak or thread)")
    endif()
  endforeach()
  if("thread" IN_LIST _qint8_san_list AND "address" IN_LIST _qint8_san_list)
    message(FATAL_ERROR "QINT8_SANITIZE: thread cannot be combined with address")
  endif()
  # Line tables, not full debug info: a report's stack still names each function, file and line,
  # and the unity-built suites compiled about a quarter faster (clang 14, -O1).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(_qint8_san_debug -gline-tables-only)
  else()
    set(_qint8_san_debug -g1)
  endif()
  set(_qint8_san_flags -fsanitize=${QINT8_SANITIZE} -fno-omit-frame-pointer ${_qint8_san_debug})
  if("undefined" IN_LIST _qint8_san_list)
    # Every UBSan finding is an error: the tests must fail, not print and carry on.
    list(APPEND _qint8_san_flags -fno-sanitize-recover=all)
  endif()
  target_compile_options(qint8_project_flags INTERFACE ${_qint8_san_flags})
  target_link_options(qint8_project_flags INTERFACE -fsanitize=${QINT8_SANITIZE})
  message(STATUS "qint8: sanitizers ${QINT8_SANITIZE} on the project's own targets (${CMAKE_CXX_COMPILER_ID})")
endif()

if(QINT8_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "QINT8_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
endif()
