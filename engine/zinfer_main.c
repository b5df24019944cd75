#include "zi_classes.h"
int main (int argc, char *argv []) { return 0; }
