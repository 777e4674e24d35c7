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
# EXERCISE_HONESTY (ON): CI's copies of every stage, made at build time from
#   the markers: one per part cut alone (ID STAGE.cut-N.k), the skeleton
#   (STAGE.skeleton), and the alternative solutions and typical mistakes of
#   tools/exercise/alternatives/ (STAGE.alt-NAME); and a test per stage (label
#   exercises) that grades them (exercise.py honesty). Copies whose headers are
#   the reference's share the unit tests' compiled sources.

set(EXERCISE_DIRS "" CACHE STRING "Folders with a copy of a stage to grade (make check sets it)")
option(EXERCISE_HONESTY "Build CI's cut copies of every stage and test that grading is honest" ON)
find_package(Python3 COMPONENTS Interpreter)
set(EXERCISE_TOOL ${CMAKE_CURRENT_LIST_DIR}/exercise.py)
set(EXERCISE_MARKERS ${CMAKE_CURRENT_LIST_DIR}/markers.py)
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
      target_compile_options(${test}-${id}-own PRIVATE ${PROJECT_WARNINGS})
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
  add_exercise(${dir} ${id} ${stage} SOURCES ${sources})
endforeach()

if(EXERCISE_HONESTY AND NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: the exercises' honesty tests are left out")
endif()
if(EXERCISE_HONESTY AND Python3_Interpreter_FOUND)
  # The unit tests' own sources, compiled once for every cut copy.
  get_property(unit_tests GLOBAL PROPERTY EXERCISE_UNIT_TESTS)
  foreach(test IN LISTS unit_tests)
    get_property(own GLOBAL PROPERTY EXERCISE_${test}_OWN)
    get_property(test_stage GLOBAL PROPERTY EXERCISE_${test}_STAGE)
    add_library(${test}-objects OBJECT ${own})
    target_include_directories(${test}-objects PRIVATE ${CMAKE_SOURCE_DIR}/${test_stage})
    target_compile_options(${test}-objects PRIVATE ${PROJECT_WARNINGS})
    target_link_libraries(${test}-objects PRIVATE test_support GTest::gtest)
  endforeach()

  # The parts, from the markers, and the alternatives; a change to a stage
  # or to an alternative configures again.
  file(GLOB marked CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/stage*/*.cpp ${CMAKE_SOURCE_DIR}/stage*/*.hpp)
  file(GLOB_RECURSE alternative_files CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/alternatives/*)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${marked} ${alternative_files}
    ${EXERCISE_TOOL} ${EXERCISE_MARKERS})
  foreach(listing IN ITEMS parts alternatives)
    execute_process(COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} ${listing}
      OUTPUT_VARIABLE text ERROR_VARIABLE error RESULT_VARIABLE status)
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "exercise.py ${listing} failed:\n${error}")
    endif()
    string(REPLACE "\n" ";" ${listing}_lines "${text}")
  endforeach()
  set(stages_with_parts "")
  foreach(line IN LISTS parts_lines)
    if(line MATCHES "^([^\t]+)\t([^\t]+)\t")
      list(APPEND stages_with_parts ${CMAKE_MATCH_1})
      list(APPEND cuts_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES stages_with_parts)

  # add_copy(STAGE ID SHARED|OWN DEPENDS ... COMMAND ... FILES ...): a copy
  # that exercise.py writes at build time, and its programs.
  function(add_copy stage id sharing)
    cmake_parse_arguments(C "" "" "DEPENDS;COMMAND;FILES" ${ARGN})
    set(dir ${CMAKE_BINARY_DIR}/exercise-src/${id})
    set(outputs ${C_FILES})
    list(TRANSFORM outputs PREPEND ${dir}/)
    add_custom_command(OUTPUT ${outputs}
      COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} ${C_COMMAND} ${dir}
      DEPENDS ${C_DEPENDS} ${EXERCISE_TOOL} ${EXERCISE_MARKERS}
      COMMENT "Writing the copy ${id}" VERBATIM)
    set(sources ${outputs})
    list(FILTER sources INCLUDE REGEX "\\.cpp$")
    if(sharing STREQUAL "SHARED")
      add_exercise(${dir} ${id} ${stage} SOURCES ${sources} SHARED)
    else()
      add_exercise(${dir} ${id} ${stage} SOURCES ${sources})
    endif()
  endfunction()

  foreach(stage IN LISTS stages_with_parts)
    file(GLOB files CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}/${stage}
      ${CMAKE_SOURCE_DIR}/${stage}/*.cpp ${CMAKE_SOURCE_DIR}/${stage}/*.hpp)
    set(inputs ${files})
    list(TRANSFORM inputs PREPEND ${CMAKE_SOURCE_DIR}/${stage}/)
    set(copies "")
    foreach(cut IN LISTS cuts_${stage} ITEMS all)
      set(id ${stage}.cut-${cut})
      if(cut STREQUAL "all")
        set(id ${stage}.skeleton)
      endif()
      add_copy(${stage} ${id} SHARED DEPENDS ${inputs} COMMAND variant ${stage} ${cut}
        FILES ${files})
      list(APPEND copies exercise-${id})
    endforeach()
    # Alternative solutions (full score) and typical mistakes (points lost
    # in their part): tools/exercise/alternatives/STAGE/NAME/.
    foreach(line IN LISTS alternatives_lines)
      if(line MATCHES "^${stage}\t([^\t]+)\t([^\t]+)\t(.*)$")
        set(name ${CMAKE_MATCH_1})
        set(sharing ${CMAKE_MATCH_2})
        string(REPLACE "\t" ";" alt_files "${CMAKE_MATCH_3}")
        file(GLOB alt_inputs ${CMAKE_CURRENT_LIST_DIR}/alternatives/${stage}/${name}/*)
        add_copy(${stage} ${stage}.alt-${name} ${sharing} DEPENDS ${inputs} ${alt_inputs}
          COMMAND alternative ${stage} ${name} FILES ${alt_files})
        list(APPEND copies exercise-${stage}.alt-${name})
      endif()
    endforeach()
    add_custom_target(exercise-copies-${stage} ALL)
    add_dependencies(exercise-copies-${stage} ${copies})
    # Each part cut alone fails its tests and passes those of the parts
    # before it; the skeleton scores below full; each alternative scores
    # full, each mistake loses points in its part. (The reference scores
    # full: that is the ordinary run of the same tests.) Three tests at a
    # time: a test of a cut part mostly waits until it gives up.
    add_test(NAME exercise_honesty_${stage}
      COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} honesty ${stage} ${CMAKE_BINARY_DIR})
    set_tests_properties(exercise_honesty_${stage} PROPERTIES LABELS exercises TIMEOUT 3000
      ENVIRONMENT "JOBS=3")
  endforeach()
  # The points table names real tests only, and every test of every stage.
  add_test(NAME exercise_points COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} lint ${CMAKE_BINARY_DIR})
  set_tests_properties(exercise_points PROPERTIES LABELS exercises TIMEOUT 60)
endif()
