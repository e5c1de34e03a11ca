#include <stdlib.h>
int main(){ char *p = malloc(1<<20); for (int i=0;i<(1<<20);i+=4096) p[i]=i; long s=0; for (int i=0;i<(1<<20);i+=8192) s+=p[i]; return s==1; }
