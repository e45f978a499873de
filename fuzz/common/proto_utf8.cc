#include "proto_utf8.h"

#include <vector>

#include "fuzz_check.h"
#include "google/protobuf/descriptor.h"

namespace signal_fuzz {

std::string FirstInvalidUtf8Field(const google::protobuf::Message& message) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const std::string path =
          field->is_repeated() ? field->name() + "[" + std::to_string(i) + "]" : field->name();
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        const std::string value = field->is_repeated()
                                      ? reflection->GetRepeatedString(message, field, i)
                                      : reflection->GetString(message, field);
        if (!IsValidUtf8(value)) return path;
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const google::protobuf::Message& child =
            field->is_repeated() ? reflection->GetRepeatedMessage(message, field, i)
                                 : reflection->GetMessage(message, field);
        if (std::string inner = FirstInvalidUtf8Field(child); !inner.empty()) {
          return path + "." + inner;
        }
      }
    }
  }
  return {};
}

}  // namespace signal_fuzz
