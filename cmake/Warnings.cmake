# kl_warnings(target): the project's warning set; -Werror when KL_WERROR is on (CI).
function(kl_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
    -Wno-unused-parameter)
  if(KL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
