"""The built-in scenario of `linuxmm report` (no SCENARIO given): a small machine under memory
pressure.  A page cache is read, two processes write more anonymous memory than RAM holds
(kswapd drops the cache, swaps the older process out), one of them re-reads part of its heap
(major faults, swap-in), a third asks for more than RAM and swap have left (the OOM killer),
then the survivors exit and memory comes back."""

PRESSURE = '''
name = "pressure"
description = "page cache, kswapd, swap-out and swap-in, an OOM kill, exits (built in)"
seed = 1

[machine]
mem = "64M"
swap = "32M"
cpus = 1

[[process]]
name = "init"

[[process]]
name = "reader"

[[process]]
name = "hog"

[[process]]
name = "worker"

[[process]]
name = "greedy"

[[action]]
do = "create_file"
path = "/data/log"
size = "8M"

[[action]]
process = "reader"
do = "mmap"
region = "log"
size = "8M"
file = "/data/log"
prot = "r"

[[action]]
process = "reader"
do = "touch"
region = "log"

[[action]]
at = "100ms"
process = "hog"
do = "mmap"
region = "heap"
size = "24M"

[[action]]
process = "hog"
do = "touch"
region = "heap"
write = true

[[action]]
at = "200ms"
process = "worker"
do = "mmap"
region = "heap"
size = "24M"

[[action]]
process = "worker"
do = "touch"
region = "heap"
write = true

[[action]]
at = "300ms"
process = "hog"
do = "touch"
region = "heap"
length = "8M"
pattern = "random"
count = 2000
write = 0.5

[[action]]
at = "400ms"
process = "greedy"
do = "mmap"
region = "big"
size = "24M"

[[action]]
process = "greedy"
do = "touch"
region = "big"
write = true

[[action]]
at = "500ms"
process = "hog"
do = "exit"

[[action]]
process = "reader"
do = "exit"

[[action]]
do = "sleep"
seconds = 0.1
'''
