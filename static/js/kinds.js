// Generated from app/tracer/events.py (python -m app.tracer.events --write):
// the event kinds and run statuses, declared once there. Do not edit.

export const SWITCH = 0;
export const THROW = 1;
export const SPAWN = 2;
export const FINISH = 3;
export const STDOUT = 4;
export const BLOCK = 5;
export const UNBLOCK = 6;
export const TASKINFO = 7;
export const MARK = 8;
export const WARNING = 9;
export const KIND_NAMES = ["switch", "throw", "spawn", "finish", "stdout", "block", "unblock", "taskinfo", "mark", "warning"];
/** How a run may end: a run whose status is one of these is over. */
export const FINAL_STATUSES = ["finished", "error", "cancelled", "limit", "crashed", "snapshot"];
