# kl_embed_lua(<var> DIRS <dir>... PATTERNS <glob>... OUTPUT <file.c>)
# Compiles every file matching PATTERNS under the given directories (relative to the source
# tree) into one C file holding a table { "lua/kube/util.lua", bytes, length }, so the binary
# carries its Lua modules, bundled policies and schemas. Rebuilt when any of them changes.
function(kl_embed_lua var)
  cmake_parse_arguments(E "" "OUTPUT" "DIRS;PATTERNS" ${ARGN})
  set(files)
  foreach(d ${E_DIRS})
    foreach(pat ${E_PATTERNS})
      file(GLOB_RECURSE found CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}
           ${CMAKE_SOURCE_DIR}/${d}/${pat})
      list(APPEND files ${found})
    endforeach()
  endforeach()
  # LuaLS annotation stubs are for editors, not for the binary.
  list(FILTER files EXCLUDE REGEX "^lua/meta/")
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
