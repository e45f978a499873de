# embed_file(TARGET_VAR INPUT SYMBOL): generates a .cc that defines
#   extern const char SYMBOL[]; extern const unsigned long SYMBOL_size;
# holding INPUT's bytes, regenerated whenever INPUT changes. Used to compile the
# catalog YAML into the plugin so the .so needs no file beside it at run time.
function(embed_file OUT_VAR INPUT SYMBOL)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${SYMBOL}.cc")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DINPUT=${INPUT} -DOUTPUT=${out} -DSYMBOL=${SYMBOL}
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedFileScript.cmake"
    DEPENDS "${INPUT}" "${PROJECT_SOURCE_DIR}/cmake/EmbedFileScript.cmake"
    COMMENT "Embedding ${INPUT}"
    VERBATIM)
  set(${OUT_VAR} "${out}" PARENT_SCOPE)
endfunction()
