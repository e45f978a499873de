# Script half of embed_file(): writes INPUT as a hex byte array named SYMBOL.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}"
  "// Generated from ${INPUT}; do not edit.\n"
  "extern const char ${SYMBOL}[];\n"
  "extern const unsigned long ${SYMBOL}_size;\n"
  "const char ${SYMBOL}[] = {${bytes} 0x00};\n"
  "const unsigned long ${SYMBOL}_size = ${size};\n")
