// The keyboard: Space plays or pauses, the arrows step from switch to switch, + and -
// change the speed, Home and End jump; Escape closes History. A control clicked with the
// mouse gives the focus back, so that Space plays the timeline instead of pressing it again.

export function bindKeys({ history, hasRun, player, flush }) {
  // A button or checkbox clicked with the mouse gives the focus back. Reached with the
  // keyboard (Tab), a control keeps the focus and Space is its own (see keydown).
  document.addEventListener("click", (e) => {
    if (e.detail === 0) return; // keyboard activation: keep the focus
    const control = e.target?.closest?.("button, input[type=checkbox], label");
    if (!control) return;
    setTimeout(() => {
      // Only if the focus is still on what was clicked: a click may move it on purpose
      // (History's Rename focuses its text field).
      const focused = document.activeElement;
      if (focused === control || control.contains(focused) || focused === control.control) {
        focused.blur();
      }
    }, 0);
  });

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape" && history.open) {
      history.close();
      e.preventDefault();
      return;
    }
    const tag = e.target?.tagName;
    if (tag === "INPUT" && e.target.type !== "range" && e.target.type !== "checkbox") return;
    if (tag === "SELECT" || tag === "TEXTAREA" || e.target?.isContentEditable) return;
    // Space on a focused control is that control's (a button presses, a checkbox ticks):
    // only elsewhere does it play or pause.
    if (e.key === " " && (tag === "BUTTON" || tag === "A" || e.target?.type === "checkbox")) return;
    if (!hasRun()) return;
    const keys = {
      " ": () => player.toggle(),
      ArrowRight: () => player.stepNext(),
      ArrowLeft: () => player.stepPrev(),
      "+": () => player.faster(),
      "=": () => player.faster(),
      "-": () => player.slower(),
      Home: () => player.seek(0),
      End: () => player.goLive(),
    };
    const fn = keys[e.key];
    if (!fn) return;
    e.preventDefault();
    fn();
    flush(); // the panels show the new cursor before the next key arrives
  });
}
