// The counter example in JavaScript: every tap on "+1" adds one, "Reset" goes back to zero,
// and the count survives a relaunch because it lives in the app's storage.

const count = () => Number(sf.storage.get('count')) || 0;

Page({
  data: { count: 0 },

  onLoad() {
    this.setData({ count: count() });
  },

  onIncrement() {
    const next = count() + 1;
    sf.storage.set('count', next);
    this.setData({ count: next });
  },

  onReset() {
    sf.storage.set('count', 0);
    this.setData({ count: 0 });
  },
});
