#include <malloc.h>
#include <stdlib.h>
/* grows a buffer one byte at a time, reallocating only when malloc_usable_size says it is full */
int main(void)
{
  char *b = malloc(1); size_t len = 0;
  for (int i = 0; i < 1000; i++) {
    if (len + 1 > malloc_usable_size(b)) b = realloc(b, len + 1);
    b[len++] = 'x';
  }
  free(b); return 0;
}
