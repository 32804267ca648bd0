/* Greets its arguments, or "world". Linked statically, so it needs no libc at run time
   and runs alone in a scratch image. */
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    printf("Hello, world! (a static C program in a scratch image)\n");
    return 0;
  }
  for (int i = 1; i < argc; i++) printf("Hello, %s!\n", argv[i]);
  return 0;
}
