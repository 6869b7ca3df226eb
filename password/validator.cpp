#include "password/validator.h"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

namespace rotor::password {
namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool iequal(char a, char b) {
  return lower(a) == lower(b);
}

// Case-insensitive search of `needle` in `haystack`, read forwards or backwards; no copy of the
// password is made, so there is nothing to wipe.
std::size_t ifind(std::string_view haystack, std::string_view needle, bool backwards) {
  if (needle.empty() || needle.size() > haystack.size()) {
    return std::string_view::npos;
  }
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      const char n = backwards ? needle[needle.size() - 1 - j] : needle[j];
      match = iequal(haystack[i + j], n);
    }
    if (match) {
      return i;
    }
  }
  return std::string_view::npos;
}

bool is_palindrome(std::string_view text) {
  for (std::size_t i = 0; i < text.size() / 2; ++i) {
    if (!iequal(text[i], text[text.size() - 1 - i])) {
      return false;
    }
  }
  return true;
}

std::string reversed(std::string_view text) {
  return {text.rbegin(), text.rend()};
}

// A name whose presence a profile forbids, and whether its 3-character fragments count.
struct NameRule {
  std::string_view name;
  bool fragments;
};

// At most three names: the server's username, and root and Administrator on the v1 APIs.
struct NameRules {
  std::array<NameRule, 3> rules{};
  std::size_t count = 0;
};

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ifind(a, b, false) == 0;
}

NameRules name_rules(const Policy& policy) {
  NameRules out;
  const bool windows = policy.os == OsFamily::Windows;
  out.rules[out.count++] = {policy.username, windows};
  if (policy.api != ApiProfile::OtcSingle) {
    // Huawei's v1 rule names both accounts, whatever the server's OS.
    for (std::string_view name : {std::string_view("root"), std::string_view("Administrator")}) {
      const bool fragments = name == "Administrator";
      if (!same_name(name, policy.username)) {
        out.rules[out.count++] = {name, fragments};
      } else if (fragments) {
        out.rules[0].fragments = true;
      }
    }
  }
  return out;
}

std::optional<CharClass> class_of(char c, std::string_view specials) {
  if (c >= 'A' && c <= 'Z') {
    return CharClass::Upper;
  }
  if (c >= 'a' && c <= 'z') {
    return CharClass::Lower;
  }
  if (c >= '0' && c <= '9') {
    return CharClass::Digit;
  }
  if (c != '\0' && specials.find(c) != std::string_view::npos) {
    return CharClass::Special;
  }
  return std::nullopt;
}

std::string_view class_noun(CharClass cls, bool plural) {
  switch (cls) {
    case CharClass::Upper: return plural ? "upper-case letters" : "upper-case letter";
    case CharClass::Lower: return plural ? "lower-case letters" : "lower-case letter";
    case CharClass::Digit: return plural ? "digits" : "digit";
    case CharClass::Special: return plural ? "special characters" : "special character";
  }
  return "characters";
}

template <typename Sink>
void check_into(std::string_view password, const Policy& policy, Sink&& report) {
  const std::size_t length = password.size();
  if (length < kMinLength || length > kMaxLength) {
    if (!report(Rule::Length,
                fmt::format("length {} not within {}..{}", length, kMinLength, kMaxLength))) {
      return;
    }
  } else if (length < policy.length) {
    if (!report(Rule::Length,
                fmt::format("length {} is shorter than the policy's {}", length, policy.length))) {
      return;
    }
  }

  const std::string_view specials = allowed_specials(policy.api);
  std::array<std::size_t, kClassCount> counts{};
  for (std::size_t i = 0; i < length; ++i) {
    const char c = password[i];
    const auto cls = class_of(c, specials);
    if (!cls) {
      if (!report(
              Rule::Character,
              fmt::format("character {} is not allowed by the {} API (letters, digits and {} only)",
                          i + 1, to_string(policy.api), specials))) {
        return;
      }
      continue;
    }
    ++counts[static_cast<std::size_t>(*cls)];
    if (policy.exclude_chars.find(c) != std::string::npos) {
      if (!report(Rule::Character, fmt::format("character {} is excluded by the policy", i + 1))) {
        return;
      }
    } else if (policy.min_count[static_cast<std::size_t>(*cls)] == 0) {
      if (!report(Rule::Character,
                  fmt::format("character {} is a {}, a class the policy does not use", i + 1,
                              class_noun(*cls, false)))) {
        return;
      }
    }
  }

  const auto present = static_cast<std::size_t>(
      std::count_if(counts.begin(), counts.end(), [](std::size_t n) { return n > 0; }));
  if (present < kMinClasses) {
    if (!report(Rule::Classes,
                fmt::format("uses {} of the 4 character classes; the cloud needs at least {}",
                            present, kMinClasses))) {
      return;
    }
  }
  for (std::size_t cls = 0; cls < kClassCount; ++cls) {
    const std::size_t need = policy.min_count[cls];
    if (counts[cls] < need) {
      if (!report(Rule::ClassMinimum,
                  fmt::format("has {} {}; the policy requires at least {}", counts[cls],
                              class_noun(static_cast<CharClass>(cls), counts[cls] != 1), need))) {
        return;
      }
    }
  }

  const NameRules names = name_rules(policy);
  for (std::size_t r = 0; r < names.count; ++r) {
    const NameRule& rule = names.rules[r];
    if (rule.name.empty()) {
      continue;
    }
    if (ifind(password, rule.name, false) != std::string_view::npos) {
      if (!report(Rule::Username, fmt::format("contains the username '{}'", rule.name))) {
        return;
      }
    }
    if (!is_palindrome(rule.name) && ifind(password, rule.name, true) != std::string_view::npos) {
      if (!report(Rule::Username,
                  fmt::format("contains the reversed username '{}'", reversed(rule.name)))) {
        return;
      }
    }
    if (rule.fragments && rule.name.size() >= 3) {
      // Any 3 consecutive characters of the name, forwards or backwards (the conservative reading).
      for (std::size_t i = 0; i + 3 <= password.size(); ++i) {
        const std::string_view window = password.substr(i, 3);
        if (ifind(rule.name, window, false) != std::string_view::npos ||
            ifind(rule.name, window, true) != std::string_view::npos) {
          if (!report(Rule::UsernameFragment,
                      fmt::format("characters {}..{} are three consecutive characters of '{}'",
                                  i + 1, i + 3, rule.name))) {
            return;
          }
          break;  // one report per name is enough
        }
      }
    }
  }

  if (!password.empty() && password.front() == '/') {
    (void)report(Rule::LeadingSlash, "starts with '/'");
  }
}

}  // namespace

std::vector<Violation> check(std::string_view password, const Policy& policy) {
  std::vector<Violation> violations;
  check_into(password, policy, [&](Rule rule, std::string reason) {
    violations.push_back({rule, std::move(reason)});
    return true;
  });
  return violations;
}

bool complies(std::string_view password, const Policy& policy) {
  bool ok = true;
  check_into(password, policy, [&](Rule, const std::string&) {
    ok = false;
    return false;
  });
  return ok;
}

}  // namespace rotor::password
