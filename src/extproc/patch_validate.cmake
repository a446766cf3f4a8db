# cmake -DIN=validate.proto -DOUT=patched/validate/validate.proto -P patch_validate.cmake
# The validate.proto bundled with @grpc/grpc-js-xds 1.14.1 lacks StringRules.ignore_empty (26),
# which envoy/config/core/v3/protocol.proto uses in an option, so protoc rejects every file
# importing it. Options do not affect the wire or JSON format: adding the field is enough.
file(READ "${IN}" text)
if(NOT text MATCHES "ignore_empty")
  string(REPLACE "message StringRules {" "message StringRules {\n  optional bool ignore_empty = 26;" text "${text}")
endif()
file(WRITE "${OUT}" "${text}")
