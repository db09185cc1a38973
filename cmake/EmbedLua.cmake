# kl_embed_lua(<var> DIRS <dir>... OUTPUT <file.c>)
# Compiles every *.lua under the given directories (relative to the source tree) into one C file
# holding a table { "lua/kube/util.lua", bytes, length }, so the binary carries its Lua modules
# and bundled policies. The generated file is rebuilt when any .lua file changes.
function(kl_embed_lua var)
  cmake_parse_arguments(E "" "OUTPUT" "DIRS" ${ARGN})
  set(files)
  foreach(d ${E_DIRS})
    file(GLOB_RECURSE found CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}
         ${CMAKE_SOURCE_DIR}/${d}/*.lua)
    list(APPEND files ${found})
  endforeach()
  list(SORT files)
  set(abs)
  foreach(f ${files})
    list(APPEND abs ${CMAKE_SOURCE_DIR}/${f})
  endforeach()
  add_custom_command(
    OUTPUT ${E_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${E_OUTPUT} "-DFILES=${files}"
            -P ${CMAKE_SOURCE_DIR}/cmake/EmbedLuaGen.cmake
    DEPENDS ${abs} ${CMAKE_SOURCE_DIR}/cmake/EmbedLuaGen.cmake
    COMMENT "Embedding Lua sources"
    VERBATIM)
  set(${var} ${E_OUTPUT} PARENT_SCOPE)
endfunction()
