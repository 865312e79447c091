//! A thin, copyable handle on the raw JNI function table.
//!
//! The entry points receive a `*mut jni::sys::JNIEnv` and call the table
//! directly: the hot paths never build a `jni::Env` (which costs more than a
//! lookup), and the slow paths use the same few calls, each followed by the
//! exception check `-Xcheck:jni` insists on. Every method is `unsafe` in
//! spirit: it is only sound on the thread the JVM called us on, during the
//! native call, with the argument types the JNI specification requires.

use std::ffi::{c_void, CStr};
use std::marker::PhantomData;
use std::ptr;

use jni::sys::{
    jarray, jbyteArray, jclass, jint, jlong, jmethodID, jobject, jobjectArray, jsize, jthrowable,
    jvalue, JNIEnv, JNINativeMethod, JavaVM,
};

/// The calling thread's JNI environment, valid for one native call: the
/// lifetime `'call` is the call's (see `jcall`), so an `Env` cannot be kept
/// after the call returns, and the raw pointer makes it neither `Send` nor
/// `Sync`, so it cannot reach another thread.
#[derive(Clone, Copy)]
pub(crate) struct Env<'call> {
    raw: *mut JNIEnv,
    call: PhantomData<&'call JNIEnv>,
}

/// Calls a JNI function from the table of version `$v`.
macro_rules! jni {
    ($env:expr, $v:ident, $name:ident $(, $arg:expr)*) => {{
        let raw: *mut JNIEnv = $env.raw;
        // SAFETY: the JVM hands every native call a valid environment whose
        // table holds every function of the versions it supports (>= 1.8 here).
        unsafe { ((**raw).$v.$name)(raw $(, $arg)*) }
    }};
}

impl<'call> Env<'call> {
    /// Wraps the environment the JVM passed to a native call, or the one of
    /// a thread attached to the JVM.
    ///
    /// # Safety
    /// `raw` is the calling thread's valid JNI environment for all of
    /// `'call`.
    pub(crate) unsafe fn from_raw(raw: *mut JNIEnv) -> Env<'call> {
        Env {
            raw,
            call: PhantomData,
        }
    }

    /// Whether a Java exception is pending (then most JNI calls are illegal).
    #[inline]
    pub(crate) fn exception_pending(self) -> bool {
        jni!(self, v1_2, ExceptionCheck)
    }

    pub(crate) fn find_class(self, name: &CStr) -> jclass {
        jni!(self, v1_1, FindClass, name.as_ptr())
    }

    /// Binds `methods` to `class`'s native methods; false with a Java error
    /// pending if one of them names no native method of the class.
    pub(crate) fn register_natives(self, class: jclass, methods: &[JNINativeMethod]) -> bool {
        let n = methods.len() as jint;
        jni!(self, v1_1, RegisterNatives, class, methods.as_ptr(), n) == jni::sys::JNI_OK
    }

    /// Throws a new exception of class `class` (JNI name, e.g.
    /// `java/lang/IllegalStateException`) with `message`, unless one is
    /// already pending.
    pub(crate) fn throw(self, class: &CStr, message: &CStr) {
        if self.exception_pending() {
            return;
        }
        let cls = self.find_class(class);
        if cls.is_null() {
            return; // FindClass threw NoClassDefFoundError: that one is pending now
        }
        jni!(self, v1_1, ThrowNew, cls, message.as_ptr());
        self.delete_local(cls);
    }

    pub(crate) fn delete_local(self, obj: jobject) {
        if !obj.is_null() {
            jni!(self, v1_1, DeleteLocalRef, obj);
        }
    }

    pub(crate) fn array_len(self, array: jarray) -> usize {
        jni!(self, v1_1, GetArrayLength, array).max(0) as usize
    }

    /// Copies `dst.len()` bytes of a Java byte[] starting at `start`. The
    /// caller has checked the bounds, so nothing can be thrown.
    pub(crate) fn read_bytes(self, array: jbyteArray, start: usize, dst: &mut [u8]) {
        jni!(
            self,
            v1_1,
            GetByteArrayRegion,
            array,
            start as jsize,
            dst.len() as jsize,
            dst.as_mut_ptr().cast()
        );
    }

    pub(crate) fn write_bytes(self, array: jbyteArray, start: usize, src: &[u8]) {
        jni!(
            self,
            v1_1,
            SetByteArrayRegion,
            array,
            start as jsize,
            src.len() as jsize,
            src.as_ptr().cast()
        );
    }

    /// A new Java byte[] holding a copy of `bytes`; null with
    /// OutOfMemoryError pending if the JVM could not allocate it.
    pub(crate) fn new_bytes(self, bytes: &[u8]) -> jbyteArray {
        let Ok(len) = jsize::try_from(bytes.len()) else {
            self.throw(
                c"java/lang/OutOfMemoryError",
                c"value is longer than a Java array can be",
            );
            return ptr::null_mut();
        };
        let array = jni!(self, v1_1, NewByteArray, len);
        if !array.is_null() {
            self.write_bytes(array, 0, bytes);
        }
        array
    }

    pub(crate) fn read_longs(self, array: jarray, start: usize, dst: &mut [i64]) {
        jni!(
            self,
            v1_1,
            GetLongArrayRegion,
            array,
            start as jsize,
            dst.len() as jsize,
            dst.as_mut_ptr()
        );
    }

    pub(crate) fn write_longs(self, array: jarray, start: usize, src: &[i64]) {
        jni!(
            self,
            v1_1,
            SetLongArrayRegion,
            array,
            start as jsize,
            src.len() as jsize,
            src.as_ptr()
        );
    }

    pub(crate) fn write_booleans(self, array: jarray, start: usize, src: &[bool]) {
        jni!(
            self,
            v1_1,
            SetBooleanArrayRegion,
            array,
            start as jsize,
            src.len() as jsize,
            src.as_ptr()
        );
    }

    pub(crate) fn set_element(self, array: jobjectArray, index: usize, value: jobject) {
        jni!(
            self,
            v1_1,
            SetObjectArrayElement,
            array,
            index as jsize,
            value
        );
    }

    /// Address and capacity of a direct buffer; None for a heap buffer.
    pub(crate) fn direct_buffer(self, buf: jobject) -> Option<(*mut u8, usize)> {
        let addr = jni!(self, v1_4, GetDirectBufferAddress, buf);
        let cap = jni!(self, v1_4, GetDirectBufferCapacity, buf);
        (!addr.is_null() && cap >= 0).then_some((addr.cast(), cap as usize))
    }

    /// A direct ByteBuffer over `len` bytes at `ptr` (the JVM does not own
    /// them). Null with an exception pending on failure.
    pub(crate) fn new_direct_buffer(self, ptr: *const u8, len: usize) -> jobject {
        // A zero-length buffer still needs a non-null address.
        let addr = if ptr.is_null() {
            ptr::NonNull::<u8>::dangling().as_ptr()
        } else {
            ptr as *mut u8
        };
        jni!(
            self,
            v1_4,
            NewDirectByteBuffer,
            addr as *mut c_void,
            len as jlong
        )
    }

    pub(crate) fn method_id(self, class: jclass, name: &CStr, sig: &CStr) -> jmethodID {
        jni!(self, v1_1, GetMethodID, class, name.as_ptr(), sig.as_ptr())
    }

    pub(crate) fn call_long(self, obj: jobject, m: jmethodID, args: &[jvalue]) -> jlong {
        jni!(self, v1_1, CallLongMethodA, obj, m, args.as_ptr())
    }

    pub(crate) fn call_double(self, obj: jobject, m: jmethodID, args: &[jvalue]) -> f64 {
        jni!(self, v1_1, CallDoubleMethodA, obj, m, args.as_ptr())
    }

    pub(crate) fn call_void(self, obj: jobject, m: jmethodID, args: &[jvalue]) {
        jni!(self, v1_1, CallVoidMethodA, obj, m, args.as_ptr())
    }

    pub(crate) fn read_ints(self, array: jarray, start: usize, dst: &mut [i32]) {
        jni!(
            self,
            v1_1,
            GetIntArrayRegion,
            array,
            start as jsize,
            dst.len() as jsize,
            dst.as_mut_ptr()
        );
    }

    /// Element `index` of an Object[] (a new local reference; null for null).
    /// The caller has checked the bounds.
    pub(crate) fn element(self, array: jobjectArray, index: usize) -> jobject {
        jni!(self, v1_1, GetObjectArrayElement, array, index as jsize)
    }

    /// The JavaVM this environment belongs to (for attaching other threads).
    pub(crate) fn java_vm(self) -> Option<*mut JavaVM> {
        let mut vm: *mut JavaVM = ptr::null_mut();
        let rc = jni!(self, v1_1, GetJavaVM, &mut vm);
        (rc == jni::sys::JNI_OK && !vm.is_null()).then_some(vm)
    }

    /// A global reference to `obj` (usable on any thread until deleted);
    /// null if the JVM is out of memory.
    pub(crate) fn new_global(self, obj: jobject) -> jobject {
        jni!(self, v1_1, NewGlobalRef, obj)
    }

    pub(crate) fn delete_global(self, obj: jobject) {
        if !obj.is_null() {
            jni!(self, v1_1, DeleteGlobalRef, obj);
        }
    }

    /// Takes the pending exception off this thread: a new global reference
    /// to it (null if none was pending), the exception cleared.
    pub(crate) fn take_exception(self) -> jthrowable {
        let local = jni!(self, v1_1, ExceptionOccurred);
        if local.is_null() {
            return ptr::null_mut();
        }
        jni!(self, v1_1, ExceptionClear);
        let global = self.new_global(local);
        self.delete_local(local);
        global
    }

    /// Drops the pending exception, if any.
    pub(crate) fn clear_exception(self) {
        jni!(self, v1_1, ExceptionClear);
    }

    /// Makes `throwable` this thread's pending exception.
    pub(crate) fn throw_object(self, throwable: jthrowable) {
        jni!(self, v1_1, Throw, throwable);
    }

    /// Opens a frame for up to `capacity` local references; false (with an
    /// OutOfMemoryError pending) if the JVM could not.
    pub(crate) fn push_local_frame(self, capacity: jint) -> bool {
        jni!(self, v1_2, PushLocalFrame, capacity) == 0
    }

    /// Closes the frame: every local reference made in it is freed.
    pub(crate) fn pop_local_frame(self) {
        jni!(self, v1_2, PopLocalFrame, ptr::null_mut());
    }
}
