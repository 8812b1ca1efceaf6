// The lines of components/log_viewer.py: a scroll area that keeps what the reader looks at in place when older
// lines come in above it, scrolls to the newest while `follow` is on, and says when the reader scrolls up (which
// ends following) or reaches the top (which asks for older lines).
export default {
  template: `<q-scroll-area ref="qRef" @scroll="onScroll"><slot></slot></q-scroll-area>`,
  props: { follow: Boolean },
  data() {
    return { anchor: null, offset: 0, lastTop: 0, ours: null };
  },
  mounted() {
    this.$nextTick(() => this.toBottom());
  },
  beforeUpdate() {
    this.remember();
  },
  updated() {
    this.$nextTick(() => this.restore());
  },
  watch: {
    follow(on) {
      if (on) this.$nextTick(() => this.toBottom());
    },
  },
  methods: {
    target() {
      return this.$refs.qRef && this.$refs.qRef.getScrollTarget();
    },
    remember() {
      // the first line in sight and how far below the top it is
      const box = this.target();
      this.anchor = null;
      if (!box) return;
      const top = box.getBoundingClientRect().top;
      for (const line of box.querySelectorAll(".tb-log-line")) {
        const rect = line.getBoundingClientRect();
        if (rect.bottom > top) {
          this.anchor = line;
          this.offset = rect.top - top;
          return;
        }
      }
    },
    restore() {
      if (this.follow) return this.toBottom();
      const box = this.target();
      if (!box || !this.anchor || !this.anchor.isConnected) return;
      const now = this.anchor.getBoundingClientRect().top - box.getBoundingClientRect().top;
      if (Math.abs(now - this.offset) > 1) this.scrollTo(box.scrollTop + now - this.offset);
    },
    toBottom() {
      const box = this.target();
      if (box) this.scrollTo(box.scrollHeight);
    },
    scrollTo(position) {
      // where our own scroll ended (clamped by the browser): a scroll event there is ours, any other the reader's.
      // Not a flag for "the next event": a scroll to where the box already is sends none, and a flag left standing
      // took the reader's next scroll (a jump to the top) for ours
      this.$refs.qRef.setScrollPosition("vertical", position);
      this.ours = this.target().scrollTop;
    },
    onScroll(info) {
      const up = info.verticalPosition < this.lastTop - 2;
      this.lastTop = info.verticalPosition;
      if (this.ours !== null && Math.abs(info.verticalPosition - this.ours) <= 2) return;
      this.ours = null;
      if (up && this.follow && info.verticalPercentage < 0.99) this.$emit("unfollow");
      if (up && info.verticalPosition < 48) this.$emit("top");
    },
  },
};
