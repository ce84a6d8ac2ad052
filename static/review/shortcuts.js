// Keyboard shortcuts with an on-screen help overlay, shared by the queue and review pages.
// Bindings are ignored while the user types in a field; "?" toggles the help, Escape closes it.
(function (root) {
  "use strict";

  function typing(event) {
    const t = event.target;
    if (!t || !t.tagName) return false;
    const tag = t.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || t.isContentEditable;
  }

  function keyName(event) {
    const raw = event.key || "";
    const letter = raw.length === 1 && /[a-z]/i.test(raw);
    const k = raw.toLowerCase();
    const mods = [];
    if (event.ctrlKey || event.metaKey) mods.push("ctrl");
    if (event.shiftKey && (letter || k.length > 1)) mods.push("shift");
    mods.push(k);
    return mods.join("+");
  }

  class Shortcuts {
    constructor(overlay) {
      this.overlay = overlay;
      this.layers = []; // a stack: the editor's bindings shadow the page's while it is open
      document.addEventListener("keydown", (e) => this._onKey(e));
      if (overlay) {
        overlay.addEventListener("click", (e) => {
          if (e.target === overlay) this.hideHelp();
        });
      }
    }

    push(name, bindings) {
      this.layers.push({ name: name, bindings: bindings });
      this.renderHelp();
    }

    pop(name) {
      this.layers = this.layers.filter((l) => l.name !== name);
      this.renderHelp();
    }

    helpVisible() {
      return this.overlay && !this.overlay.hidden;
    }

    toggleHelp() {
      if (!this.overlay) return;
      this.overlay.hidden = !this.overlay.hidden;
    }

    hideHelp() {
      if (this.overlay) this.overlay.hidden = true;
    }

    renderHelp() {
      if (!this.overlay) return;
      const list = this.overlay.querySelector("[data-shortcut-list]");
      if (!list) return;
      list.textContent = "";
      const seen = new Set();
      for (let i = this.layers.length - 1; i >= 0; i--) {
        for (const b of this.layers[i].bindings) {
          const label = b.label || b.keys.join(" / ");
          if (!b.help || seen.has(label)) continue;
          seen.add(label);
          const row = document.createElement("div");
          row.className = "shortcut-row";
          const kbd = document.createElement("kbd");
          kbd.textContent = label;
          const text = document.createElement("span");
          text.textContent = b.help;
          row.append(kbd, text);
          list.append(row);
        }
      }
    }

    _onKey(event) {
      if (event.defaultPrevented) return;
      const name = keyName(event);
      if (name === "escape" && this.helpVisible()) {
        this.hideHelp();
        event.preventDefault();
        return;
      }
      if (typing(event) && name !== "escape" && !(name === "enter" && event.ctrlKey)) return;
      if (event.key === "?") {
        this.toggleHelp();
        event.preventDefault();
        return;
      }
      for (let i = this.layers.length - 1; i >= 0; i--) {
        for (const b of this.layers[i].bindings) {
          if (b.keys.indexOf(name) >= 0) {
            event.preventDefault();
            b.run(event);
            return;
          }
        }
      }
    }
  }

  root.ReviewShortcuts = { Shortcuts: Shortcuts, keyName: keyName };
})(self);
