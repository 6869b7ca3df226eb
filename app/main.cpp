// rotor: the command line and the daemon. main() only sets the process up and hands over to the
// CLI; every command lives in its own file in app/.
#include <sys/stat.h>

#include "app/cli.h"

int main(int argc, char** argv) {
  umask(027);  // files Rotor creates are never world-readable
  return rotor::app::run(argc, argv);
}
