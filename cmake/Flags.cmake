# Warnings and sanitizers live on INTERFACE targets that every Rotor target links PRIVATE.
add_library(rotor_warnings INTERFACE)
add_library(rotor::warnings ALIAS rotor_warnings)
target_compile_options(rotor_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wdouble-promotion
  -Wformat=2 -Wimplicit-fallthrough)
# GCC 12 reports -Wrestrict inside libstdc++'s std::string at -O2 (GCC bug 105329): a false
# positive in the standard library, not in our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(rotor_warnings INTERFACE -Wno-restrict)
endif()
if(ROTOR_WERROR)
  target_compile_options(rotor_warnings INTERFACE -Werror)
endif()

add_library(rotor_hardening INTERFACE)
add_library(rotor::hardening ALIAS rotor_hardening)
target_compile_options(rotor_hardening INTERFACE -fstack-protector-strong -fPIE)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND NOT ROTOR_SANITIZE)
  target_compile_definitions(rotor_hardening INTERFACE _FORTIFY_SOURCE=2)
endif()
target_link_options(rotor_hardening INTERFACE -pie -Wl,-z,relro,-z,now)

if(ROTOR_SANITIZE)
  add_compile_options(-fsanitize=${ROTOR_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${ROTOR_SANITIZE})
endif()

# rotor_component(NAME SOURCES... DEPS ...): one static library per component folder,
# with an alias rotor::NAME and the repository root on the include path.
function(rotor_component name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(rotor_${name} STATIC ${ARG_SOURCES})
  add_library(rotor::${name} ALIAS rotor_${name})
  target_include_directories(rotor_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(rotor_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS}
                        rotor::warnings rotor::hardening)
endfunction()
