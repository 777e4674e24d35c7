# Exercises (docs/exercises.md): copies of a stage with parts to write, built
# beside the reference stages and graded by the same tests.
#
# EXERCISE_DIRS: folders holding a copy of one stage, each named after it
#   (exercises/stage3-duplex), which is what make check configures. For each
#   folder, whose name is its ID:
#   - exercise-ID-program: the copy's program, as bin/ has the reference's,
#     into exercise/ID/; the tests find it there through EXERCISE_BIN_DIR
#     (support/process.cpp), and every other program (the peers) in bin/;
#   - NAME-ID, beside NAME in bin/: each unit test that links files of that
#     stage (duplex_test, http_*_test, chat_test), linked with the copy's
#     files instead; the tests' own sources always come from tests/;
#   - exercise-ID: both, so one build step reports the copy's errors.
# EXERCISE_HONESTY (ON): CI's copies of every stage, made at build time from
#   the markers: one per part cut alone (ID STAGE.cut-N.k) and the skeleton
#   (STAGE.skeleton), and a test per stage (label exercises) that grades them
#   (exercise.py honesty). They share the unit tests' compiled sources: their
#   headers are the reference's, unchanged.

set(EXERCISE_DIRS "" CACHE STRING "Folders with a copy of a stage to grade (make check sets it)")
option(EXERCISE_HONESTY "Build CI's cut copies of every stage and test that grading is honest" ON)
find_package(Python3 COMPONENTS Interpreter)
set(EXERCISE_TOOL ${CMAKE_CURRENT_LIST_DIR}/exercise.py)

# add_exercise(DIR ID STAGE SOURCES files... [SHARED]): the targets above.
function(add_exercise dir id stage)
  cmake_parse_arguments(E "SHARED" "" "SOURCES" ${ARGN})
  add_executable(exercise-${id}-program ${E_SOURCES})
  target_include_directories(exercise-${id}-program PRIVATE ${dir} ${CMAKE_SOURCE_DIR}/common)
  target_compile_options(exercise-${id}-program PRIVATE ${PROJECT_WARNINGS})
  set_target_properties(exercise-${id}-program PROPERTIES OUTPUT_NAME ${stage}
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/exercise/${id})
  set(targets exercise-${id}-program)
  get_property(unit_tests GLOBAL PROPERTY EXERCISE_UNIT_TESTS)
  foreach(test IN LISTS unit_tests)
    get_property(test_stage GLOBAL PROPERTY EXERCISE_${test}_STAGE)
    if(NOT test_stage STREQUAL stage)
      continue()
    endif()
    get_property(files GLOBAL PROPERTY EXERCISE_${test}_FILES)
    get_property(own GLOBAL PROPERTY EXERCISE_${test}_OWN)
    list(TRANSFORM files PREPEND ${dir}/)
    if(E_SHARED)
      add_executable(${test}-${id} $<TARGET_OBJECTS:${test}-objects> ${files})
    else()
      add_executable(${test}-${id} ${own} ${files})
    endif()
    target_include_directories(${test}-${id} PRIVATE ${dir})
    target_compile_options(${test}-${id} PRIVATE ${PROJECT_WARNINGS})
    target_link_libraries(${test}-${id} PRIVATE test_support GTest::gtest_main)
    list(APPEND targets ${test}-${id})
  endforeach()
  add_custom_target(exercise-${id} DEPENDS ${targets})
endfunction()

foreach(dir IN LISTS EXERCISE_DIRS)
  get_filename_component(id ${dir} NAME)
  string(REGEX REPLACE "\\..*" "" stage ${id})
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.cpp)
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

  # The parts, from the markers; a change to a stage configures again.
  file(GLOB marked CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/stage*/*.cpp ${CMAKE_SOURCE_DIR}/stage*/*.hpp)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${marked} ${EXERCISE_TOOL})
  execute_process(COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} parts
    OUTPUT_VARIABLE parts_text ERROR_VARIABLE parts_error RESULT_VARIABLE parts_status)
  if(NOT parts_status EQUAL 0)
    message(FATAL_ERROR "The solution markers are wrong:\n${parts_error}")
  endif()
  string(REPLACE "\n" ";" part_lines "${parts_text}")
  set(stages_with_parts "")
  foreach(line IN LISTS part_lines)
    if(line MATCHES "^([^\t]+)\t([^\t]+)\t")
      list(APPEND stages_with_parts ${CMAKE_MATCH_1})
      list(APPEND cuts_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES stages_with_parts)

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
      set(dir ${CMAKE_BINARY_DIR}/exercise-src/${id})
      set(outputs ${files})
      list(TRANSFORM outputs PREPEND ${dir}/)
      add_custom_command(OUTPUT ${outputs}
        COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} variant ${stage} ${dir} ${cut}
        DEPENDS ${inputs} ${EXERCISE_TOOL}
        COMMENT "Cutting ${id}" VERBATIM)
      set(sources ${outputs})
      list(FILTER sources INCLUDE REGEX "\\.cpp$")
      add_exercise(${dir} ${id} ${stage} SOURCES ${sources} SHARED)
      list(APPEND copies exercise-${id})
    endforeach()
    add_custom_target(exercise-copies-${stage} ALL DEPENDS ${copies})
    # Each part cut alone fails its tests and passes those of the parts
    # before it; the skeleton scores below full. (The reference scores
    # full: that is the ordinary run of the same tests.) Three tests at a
    # time: a test of a cut part mostly sleeps until it gives up.
    add_test(NAME exercise_honesty_${stage}
      COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} honesty ${stage} ${CMAKE_BINARY_DIR})
    set_tests_properties(exercise_honesty_${stage} PROPERTIES LABELS exercises TIMEOUT 1500
      ENVIRONMENT "JOBS=3")
  endforeach()
  # The points table names real tests only, and every test of every stage.
  add_test(NAME exercise_points COMMAND ${Python3_EXECUTABLE} ${EXERCISE_TOOL} lint ${CMAKE_BINARY_DIR})
  set_tests_properties(exercise_points PROPERTIES LABELS exercises TIMEOUT 60)
endif()
