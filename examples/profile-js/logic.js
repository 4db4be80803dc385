// The profile example in JavaScript: a tap asks for `user:readProfile`; the answer comes at
// once (a grant already stored, or host policy) or later, when a person was asked. Granted,
// it reads the profile and greets the user by name.

Page({
  data: { status: 'Tap to ask for your profile', name: '' },

  async onAsk() {
    if (this.data.status !== 'Granted') this.setData({ status: 'Waiting for your answer…' });
    const { granted } = await sf.requestCapability('user:readProfile');
    if (granted) {
      const profile = sf.getUserProfile();
      this.setData({ status: 'Granted', name: profile.name || '' });
    } else {
      this.setData({ status: 'Denied', name: '' });
    }
  },
});
