/*  =========================================================================
    zi_cli_keygen - `zinfer keygen`: a CURVE key pair for a host or client
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_keys.h"

static const char *s_usage =
    "usage: zinfer keygen NAME\n"
    "\n"
    "Makes a CURVE key pair: NAME.key holds the public key (share it: it goes\n"
    "into the topology as a host's public_key or under security: clients:),\n"
    "NAME.key_secret holds the secret key, mode 0600 (keep it on the one host\n"
    "or client it belongs to). NAME may include a folder: keys/host-a.\n"
    "Existing files are never overwritten.\n";

int
zi_cli_keygen (int argc, char **argv)
{
    const char *name = NULL;
    const zi_opt_t table [] = {ZI_CLI_END};
    int parsed = zi_cli_parse ("keygen", s_usage, argc, argv, table, &name, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (!name || !*name)
        return zi_cli_fail ("keygen", "no name given (usage: zinfer keygen NAME)");
    char path [4096];
    if (snprintf (path, sizeof path, "%s.key", name) >= (int) sizeof path)
        return zi_cli_fail ("keygen", "name too long");
    const char *slash = strrchr (name, '/');
    zi_keypair_t pair;
    if (zi_keys_generate (path, slash? slash + 1: name, &pair))
        return zi_cli_fail ("keygen", "%s", zi_error_text ());
    printf ("public key %s  in %s\n", pair.public_key, path);
    printf ("secret key in %s_secret (mode 0600: keep it where it is used)\n", path);
    memset (&pair, 0, sizeof pair);
    return 0;
}
