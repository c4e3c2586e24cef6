# CPack runs this after installing into its staging directory, before it packs the .deb: Debian
# policy 12.1 and 12.7 want man pages and changelogs compressed with `gzip -9n` (-n: no name and
# time stamp in the header, so the package is reproducible).
file(GLOB_RECURSE lintel_gzip_files
  ${CPACK_TEMPORARY_INSTALL_DIRECTORY}/usr/share/man/*
  ${CPACK_TEMPORARY_INSTALL_DIRECTORY}/usr/share/doc/lintel/changelog)
foreach(f IN LISTS lintel_gzip_files)
  if(NOT f MATCHES "\\.gz$")
    execute_process(COMMAND gzip -9nf ${f} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "gzip -9n ${f} failed")
    endif()
  endif()
endforeach()
if(NOT lintel_gzip_files)
  message(FATAL_ERROR "no man pages under ${CPACK_TEMPORARY_INSTALL_DIRECTORY}/usr/share/man")
endif()
