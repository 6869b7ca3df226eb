#include "common/error.h"

namespace rotor {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::InvalidPolicy: return "InvalidPolicy";
    case ErrorCode::InvalidConfig: return "InvalidConfig";
    case ErrorCode::IoError: return "IoError";
    case ErrorCode::Internal: return "Internal";
    case ErrorCode::ConnectFailed: return "ConnectFailed";
    case ErrorCode::TlsFailed: return "TlsFailed";
    case ErrorCode::Timeout: return "Timeout";
    case ErrorCode::ConnectionLost: return "ConnectionLost";
    case ErrorCode::ResponseTooLarge: return "ResponseTooLarge";
    case ErrorCode::TransportFailed: return "TransportFailed";
    case ErrorCode::BadResponse: return "BadResponse";
    case ErrorCode::HttpError: return "HttpError";
    case ErrorCode::Unauthorized: return "Unauthorized";
    case ErrorCode::PermissionDenied: return "PermissionDenied";
    case ErrorCode::NotFound: return "NotFound";
    case ErrorCode::Conflict: return "Conflict";
    case ErrorCode::Throttled: return "Throttled";
    case ErrorCode::ServiceUnavailable: return "ServiceUnavailable";
    case ErrorCode::Unsupported: return "Unsupported";
  }
  return "Unknown";
}

std::string Error::to_string() const {
  std::string text = fmt::format("{} ({}", rotor::to_string(code_), message_);
  if (cause_) {
    text += ": ";
    text += cause_->to_string();
  }
  text += ')';
  return text;
}

}  // namespace rotor
