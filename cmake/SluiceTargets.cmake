# sluice_cc_library(NAME SRCS ... [DEPS ...] [PUBLIC_DEPS ...])
#   One static library per folder. DEPS are private; PUBLIC_DEPS only what headers expose.
function(sluice_cc_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} PUBLIC ${ARG_PUBLIC_DEPS})
endfunction()

# sluice_cc_test(NAME SRCS ... [DEPS ...]): a GoogleTest binary registered with ctest.
function(sluice_cc_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR};SLUICE_BIN=$<TARGET_FILE:sluice>")
endfunction()
