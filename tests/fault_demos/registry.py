"""Demos that misbehave on purpose, registered only by the fault tests (--extra-demos)."""

from demos import Demo

DEMOS = [
    Demo("fault_raises", "raises", "Prints a line. Then raises ValueError.", "raises.py"),
    Demo("fault_hangs", "hangs", "Loops forever. Only the time limit ends it.", "hangs.py"),
    Demo("fault_floods", "floods stdout", "Prints without end. The output limit ends it.",
         "floods.py"),
    Demo("fault_switches_forever", "switches forever",
         "Two greenlets ping-pong forever. The event limit ends it.", "switches_forever.py"),
    Demo("fault_forks", "forks", "Forks a grandchild that sleeps. Both must die on cancel.",
         "forks.py", ),
    Demo("fault_kills_itself", "kills itself", "Sends itself SIGKILL. The run crashed.",
         "kills_itself.py"),
    Demo("fault_rt_signal", "real-time signal", "Dies of SIGRTMIN+1. The run crashed.",
         "rt_signal.py"),
    Demo("fault_fork_returns", "fork returns", "Forks a copy that returns from main() later.",
         "fork_returns.py"),
    Demo("fault_prints_surrogate", "prints a surrogate",
         "Prints a file name that is not UTF-8.", "prints_surrogate.py"),
    Demo("fault_memory_hog", "memory hog", "Allocates without end. The memory limit ends it.",
         "memory_hog.py"),
    Demo("fault_listens", "listens", "Opens a listening socket and waits. Cancel frees it.",
         "listens.py"),
]
