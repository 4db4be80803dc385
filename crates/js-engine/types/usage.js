// Calls of the API the examples do not make, checked by tsc against sandframe.d.ts (CI):
// the declarations must accept what docs/js.md says works. Never run.
/// <reference path="sandframe.d.ts" />

Page('detail', {
  data: { id: '' },
  onLoad(query) {
    this.setData({ id: query.id, pages: getCurrentPages().length, route: this.route });
  },
  onBack() {
    sf.navigateBack({ delta: 2, success: (r) => console.log(r.errMsg) });
  },
  onUnload() {},
});

Page({
  onOpen() {
    sf.navigateTo('detail?id=3').then((r) => console.log(r.errMsg));
    sf.navigateTo({ url: '/detail', fail: (e) => console.error(e.errMsg) });
    sf.navigateBack().catch((e) => console.warn(e.message));
  },
});

crypto.getRandomValues(new Uint32Array(4));
