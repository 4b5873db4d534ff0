// The classic WebRTC VAD C API exported by Debian's libwebrtc_audio_processing.so.1 (the package ships no
// header for it; signatures as measured in ../shared/docs/PLATFORM.md §7).
#include <stddef.h>
#include <stdint.h>

typedef struct WebRtcVadInst VadInst;

/// A new VAD instance (NULL on failure).
VadInst *WebRtcVad_Create(void);
/// Frees an instance.
void WebRtcVad_Free(VadInst *handle);
/// Resets an instance; 0 on success.
int WebRtcVad_Init(VadInst *handle);
/// Aggressiveness 0–3; 0 on success.
int WebRtcVad_set_mode(VadInst *handle, int mode);
/// 1 = speech, 0 = not, -1 = error. fs 8000/16000/32000/48000; frames of 10, 20 or 30 ms.
int WebRtcVad_Process(VadInst *handle, int fs, const int16_t *audio_frame, size_t frame_length);
