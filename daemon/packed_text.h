#pragma once
// The growth rule of the buffers that pack a fleet's ids and names into one std::string (the
// scheduler's ServerTable and the reconcile pass's ListedServers, 100,000 servers each). A
// std::string doubles when full, so a buffer just past its guess holds up to twice its text
// (9.6 MB for 5 MB of ids and names in the heaptrack profile of docs/benchmarks.md): these
// reserve from a measured guess plus an eighth, and grow by a quarter past it.

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace rotor::daemon {

// Makes room for `capacity` bytes, and no more. libstdc++'s reserve() on a string that already
// holds text rounds a request below twice the old capacity up to twice (its amortised growth), so
// the text moves into a string reserved while empty, which it does not round.
inline void reserve_exactly(std::string& text, std::size_t capacity) {
  if (capacity <= text.capacity()) {
    return;
  }
  std::string bigger;
  bigger.reserve(capacity);
  bigger.append(text);
  text.swap(bigger);
}

// Room for `more` further strings of about `each` bytes (measured on the first page), and an
// eighth more for the ones that are longer.
inline void reserve_packed(std::string& text, std::size_t more, std::size_t each) {
  reserve_exactly(text, text.size() + more * (each + each / 8));
}

// Appends `parts` one after another; when they do not fit, the buffer grows by a quarter (which
// still appends in amortised constant time).
inline void append_packed(std::string& text, std::initializer_list<std::string_view> parts) {
  std::size_t needed = text.size();
  for (const std::string_view part : parts) {
    needed += part.size();
  }
  if (needed > text.capacity()) {
    reserve_exactly(text, needed + needed / 4);
  }
  for (const std::string_view part : parts) {
    text.append(part);
  }
}

}  // namespace rotor::daemon
