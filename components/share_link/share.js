// "Link to this view": shows and copies the page's live URL (the view's state is in its query).
export default function (component) {
  const root = component.parentElement.querySelector(".sl-root");
  if (!root || root.dataset.ready) return undefined;
  root.dataset.ready = "1";
  const part = (name) => root.querySelector(`[data-role="${name}"]`);
  const [open, panel, url, copy, note] = ["open", "panel", "url", "copy", "note"].map(part);
  const show = () => {
    url.value = window.location.href;
    note.textContent = `${url.value.length.toLocaleString()} characters; opening it restores this view.`;
  };
  open.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    open.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) show();
  });
  copy.addEventListener("click", async () => {
    show();
    url.select();
    try {
      await navigator.clipboard.writeText(url.value);
      note.textContent = "Copied.";
    } catch {
      // no clipboard API (a page served over plain http): the selected text copies by hand
      note.textContent = document.execCommand && document.execCommand("copy")
        ? "Copied." : "Selected: press Ctrl+C to copy.";
    }
  });
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { panel.hidden = true; open.setAttribute("aria-expanded", "false"); }
  });
  return undefined;
}
