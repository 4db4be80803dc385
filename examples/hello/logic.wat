;; The hello mini-app, written against host ABI v1 directly (no SDK).
;;
;; sf_init sets the view data {"taps":0}; every sf_event (a tap) counts one more and sends the
;; new count with ui.setData.
(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))

  ;; One page, and it never grows: the manifest's limit and the declared maximum agree.
  (memory (export "memory") 1 1)

  ;; 0..10: the API name; 16..24: the start of the request JSON {"taps":N}.
  (data (i32.const 0) "ui.setData")
  (data (i32.const 16) "{\"taps\":")

  (global $taps (mut i32) (i32.const 0))

  ;; Writes $taps in decimal at offset 24, then '}'; returns the request's length.
  (func $format (result i32) (local $n i32) (local $digits i32) (local $at i32)
    ;; count the digits
    (local.set $n (global.get $taps))
    (local.set $digits (i32.const 1))
    (block $done
      (loop $count
        (br_if $done (i32.lt_u (local.get $n) (i32.const 10)))
        (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (br $count)))
    ;; write them, last digit first
    (local.set $n (global.get $taps))
    (local.set $at (i32.add (i32.const 23) (local.get $digits)))
    (loop $write
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (br_if $write (i32.ge_u (local.get $at) (i32.const 24))))
    (i32.store8 (i32.add (i32.const 24) (local.get $digits)) (i32.const 125)) ;; '}'
    (i32.add (i32.const 9) (local.get $digits)))

  ;; Sends {"taps":N} to the view; returns 0 on success, 1 if the host refused.
  (func $publish (result i32) (local $len i32)
    (local.set $len (call $format))
    (i64.lt_s
      (call $call (i32.const 0) (i32.const 10) (i32.const 16) (local.get $len))
      (i64.const 0)))

  (func (export "sf_init") (result i32)
    (call $publish))

  ;; A tap: the event JSON is pending; this app does not need to read it.
  (func (export "sf_event") (param $len i32) (result i32)
    (global.set $taps (i32.add (global.get $taps) (i32.const 1)))
    (call $publish)))
