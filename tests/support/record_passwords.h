#pragma once
// Every password a server's Vault record holds (current, previous, the older chain, pending):
// the set I1 checks the passwords a server accepts against.

#include <set>
#include <string>

#include "engine/record.h"

namespace rotor::testing {

inline std::set<std::string> passwords_in(const engine::ServerRecord& record) {
  std::set<std::string> out;
  for (const Secret* s : {&record.password, &record.previous_password, &record.pending_password}) {
    if (!s->empty()) {
      out.emplace(s->reveal());
    }
  }
  for (const auto& s : record.earlier) {
    out.emplace(s.reveal());
  }
  return out;
}

}  // namespace rotor::testing
