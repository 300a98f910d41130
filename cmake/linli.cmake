# linli_library(NAME name SRCS ... [HDRS ...] DEPS ... [PUBLIC_DEPS ...])
#   Defines linli_<name> with alias linli::<name>. DEPS are linked PRIVATE so that
#   the dependency direction in STYLE.md is enforced by the build.
# linli_test(NAME name SRCS ... DEPS ... [LABELS unit|integration])
function(linli_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 at -O2 reports -Wrestrict inside libstdc++'s std::string concatenation
    # (GCC bug 105329); it is not about our code.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(LINLI_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(LINLI_SANITIZE)
    # -O1 -g1: fast enough to run the integration tests on the sanitized build too, with line
    # numbers in reports, at a fraction of the compile time of full debug info.
    target_compile_options(${target} PRIVATE -O1 -g1 -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # With ASan at -O1, GCC 12 reports -Wmaybe-uninitialized inside libstdc++'s std::regex and
      # std::function (false positives: the sanitizer's instrumentation defeats its flow analysis).
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
  endif()
endfunction()

function(linli_library)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(linli_${L_NAME} STATIC ${L_SRCS})
  add_library(linli::${L_NAME} ALIAS linli_${L_NAME})
  target_include_directories(linli_${L_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(linli_${L_NAME} PUBLIC ${L_PUBLIC_DEPS} PRIVATE ${L_DEPS})
  linli_warnings(linli_${L_NAME})
endfunction()

# Benchmarks and evaluation programs (names containing "bench" or ending in "eval") are built
# only with LINLI_BENCHMARKS=ON (the default; scripts/test turns it off: tests do not need them).
function(linli_executable)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT LINLI_BENCHMARKS AND L_NAME MATCHES "bench|[-_]eval$")
    return()
  endif()
  add_executable(${L_NAME} ${L_SRCS})
  target_link_libraries(${L_NAME} PRIVATE ${L_DEPS})
  linli_warnings(${L_NAME})
endfunction()

function(linli_test)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT L_LABELS)
    set(L_LABELS unit)
  endif()
  add_executable(${L_NAME} ${L_SRCS})
  target_link_libraries(${L_NAME} PRIVATE ${L_DEPS} GTest::gtest GTest::gtest_main Threads::Threads)
  linli_warnings(${L_NAME})
  set_target_properties(${L_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${L_NAME} COMMAND ${L_NAME})
  set_tests_properties(${L_NAME} PROPERTIES LABELS "${L_LABELS}"
    ENVIRONMENT "LINLI_BIN_DIR=${CMAKE_BINARY_DIR}/bin;LINLI_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
