# Exercises (docs/exercises.md): copies of a stage with parts to write, built
# beside the reference stages and graded by the same tests.
#
# EXERCISE_DIRS: folders holding a copy of one stage, each named after it
#   (exercises/stage3-duplex), which is what make check configures. For each
#   folder, whose name is its ID, every .cpp of the folder is compiled once:
#   - exercise-ID-compile: compiles them (main.cpp, and the others), so that
#     make check tells a copy that does not compile from one that does not link;
#   - exercise-ID-program: the copy's program, as bin/ has the reference's,
#     into exercise/ID/; the tests find it there through EXERCISE_BIN_DIR
#     (support/process.cpp), and every other program (the peers) in bin/;
#   - NAME-ID, beside NAME in bin/: each unit test of that stage (duplex_test,
#     http_*_test, chat_test), linked with every .cpp of the copy but main.cpp
#     (a helper the student moved into a file of its own comes along); the
#     tests' own sources always come from tests/;
#   - exercise-ID: all of them.
# A copy whose headers are the reference's links the unit tests' objects
# compiled once for the reference (NAME-objects, tests/CMakeLists.txt).
#
# One direction only: exercise.py (make check, make honesty) writes the
# copies and runs cmake and the tests; CMake never runs exercise.py.

set(EXERCISE_DIRS "" CACHE STRING "Folders with a copy of a stage to grade (make check sets it)")
# A copy's cut parts leave parameters, helpers and variables unused until
# they are written: warnings there, not errors. Everything else is -Werror,
# as in the reference.
set(EXERCISE_WARNINGS ${PROJECT_WARNINGS} -Wno-error=unused -Wno-error=unused-parameter
  -Wno-error=unused-function -Wno-error=unused-variable -Wno-error=unused-but-set-variable
  -Wno-error=unused-const-variable -Wno-error=unused-local-typedefs)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND EXERCISE_WARNINGS -Wno-error=unused-private-field -Wno-error=unused-member-function)
endif()

# add_exercise(DIR ID STAGE SOURCES files... [SHARED]): the targets above.
# SHARED: the unit tests' own sources are the ones compiled once against the
# reference's headers (${test}-objects), which the copy leaves as they are.
function(add_exercise dir id stage)
  cmake_parse_arguments(E "SHARED" "" "SOURCES" ${ARGN})
  set(files ${E_SOURCES})
  list(FILTER files EXCLUDE REGEX "/main\\.cpp$")
  set(libraries exercise-${id}-main)
  add_library(exercise-${id}-main OBJECT ${dir}/main.cpp)
  set(file_objects "")
  if(files)
    add_library(exercise-${id}-files OBJECT ${files})
    list(APPEND libraries exercise-${id}-files)
    set(file_objects $<TARGET_OBJECTS:exercise-${id}-files>)
  endif()
  foreach(library IN LISTS libraries)
    target_include_directories(${library} PRIVATE ${dir} ${CMAKE_SOURCE_DIR}/common)
    target_compile_options(${library} PRIVATE ${EXERCISE_WARNINGS})
  endforeach()
  add_custom_target(exercise-${id}-compile)
  add_dependencies(exercise-${id}-compile ${libraries})

  add_executable(exercise-${id}-program $<TARGET_OBJECTS:exercise-${id}-main> ${file_objects})
  set_target_properties(exercise-${id}-program PROPERTIES OUTPUT_NAME ${stage} LINKER_LANGUAGE CXX
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/exercise/${id})
  set(targets exercise-${id}-program)
  get_property(unit_tests GLOBAL PROPERTY EXERCISE_UNIT_TESTS)
  foreach(test IN LISTS unit_tests)
    get_property(test_stage GLOBAL PROPERTY EXERCISE_${test}_STAGE)
    if(NOT test_stage STREQUAL stage)
      continue()
    endif()
    get_property(own GLOBAL PROPERTY EXERCISE_${test}_OWN)
    if(E_SHARED)
      add_executable(${test}-${id} $<TARGET_OBJECTS:${test}-objects> ${file_objects})
    else()
      # The test's own sources against the copy's headers: compiled in the
      # compile step, so that a header the test cannot use is told apart.
      add_library(${test}-${id}-own OBJECT ${own})
      target_include_directories(${test}-${id}-own PRIVATE ${dir})
      test_code(${test}-${id}-own)
      target_link_libraries(${test}-${id}-own PRIVATE test_support GTest::gtest)
      add_dependencies(exercise-${id}-compile ${test}-${id}-own)
      add_executable(${test}-${id} $<TARGET_OBJECTS:${test}-${id}-own> ${file_objects})
    endif()
    set_target_properties(${test}-${id} PROPERTIES LINKER_LANGUAGE CXX)
    target_link_libraries(${test}-${id} PRIVATE test_support GTest::gtest_main)
    list(APPEND targets ${test}-${id})
  endforeach()
  add_custom_target(exercise-${id})
  add_dependencies(exercise-${id} ${targets})
endfunction()

foreach(dir IN LISTS EXERCISE_DIRS)
  get_filename_component(id ${dir} NAME)
  string(REGEX REPLACE "\\..*" "" stage ${id})
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  if(NOT EXISTS ${dir}/main.cpp)
    message(FATAL_ERROR "${dir} has no main.cpp: the program's main() goes there")
  endif()
  # A copy whose headers are the reference's shares the unit tests' objects
  # that tests-STAGE compiles; a changed header compiles them again against
  # the copy's (and a header edited later configures again, to choose anew).
  file(GLOB headers CONFIGURE_DEPENDS RELATIVE ${dir} ${dir}/*.hpp)
  file(GLOB reference_headers RELATIVE ${CMAKE_SOURCE_DIR}/${stage} ${CMAKE_SOURCE_DIR}/${stage}/*.hpp)
  set(sharing SHARED)
  if(NOT headers STREQUAL reference_headers)
    set(sharing "")
  endif()
  foreach(header IN LISTS headers)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${dir}/${header})
    if(EXISTS ${CMAKE_SOURCE_DIR}/${stage}/${header})
      file(SHA256 ${dir}/${header} mine)
      file(SHA256 ${CMAKE_SOURCE_DIR}/${stage}/${header} theirs)
      if(NOT mine STREQUAL theirs)
        set(sharing "")
      endif()
    endif()
  endforeach()
  add_exercise(${dir} ${id} ${stage} SOURCES ${sources} ${sharing})
endforeach()
