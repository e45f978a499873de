# Script half of embed_file(): writes INPUT as a string literal named SYMBOL, every
# byte as a \xHH escape (so any byte, UTF-8 included, is valid in a char array),
# 32 bytes to a line, with a terminating NUL not counted in SYMBOL_size.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
# 32 bytes = 128 characters of \xHH per line (CMake regexes have no {n}).
string(REPEAT "\\\\x[0-9a-f][0-9a-f]" 32 line_pattern)
string(REGEX REPLACE "(${line_pattern})" "\\1\"\n\"" lines "${escaped}")
file(WRITE "${OUTPUT}"
  "// Generated from ${INPUT}; do not edit.\n"
  "extern const char ${SYMBOL}[];\n"
  "extern const unsigned long ${SYMBOL}_size;\n"
  "const char ${SYMBOL}[] =\n\"${lines}\";\n"
  "const unsigned long ${SYMBOL}_size = ${size};\n")
