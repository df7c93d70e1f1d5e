#!/usr/bin/python3
"""An independent RTSP peer for the recorder's tests: GStreamer's
rtsp-server with a live H.264 test pattern (320x240, 25 fps, a keyframe
every second) at rtsp://127.0.0.1:PORT/cam. The bound port is printed on
stdout; the server runs until stdin closes.

--audio pcma|pcmu|aac adds a live 440 Hz tone: G.711 A-law or mu-law
(8 kHz, 20 ms packets as cameras send, rtppcmapay/rtppcmupay) or AAC (voaacenc or avenc_aac, 16 kHz,
rtpmp4gpay), from the same pipeline clock as the video. --video-delay-ms N
holds the encoded video N ms before it is sent (timestamps and sender
reports unchanged), as a camera whose video encoder lags its audio.
"""
import argparse
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


AUDIO = {
    "pcma": "audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 ! audio/x-raw,rate=8000,channels=1 "
    "! alawenc ! rtppcmapay name=pay1 pt=8 max-ptime=20000000",
    "pcmu": "audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 ! audio/x-raw,rate=8000,channels=1 "
    "! mulawenc ! rtppcmupay name=pay1 pt=0 max-ptime=20000000",
}


def aac_launch():
    for enc in ("voaacenc", "avenc_aac", "fdkaacenc"):
        if Gst.ElementFactory.find(enc) is not None:
            return ("audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample "
                    "! audio/x-raw,rate=16000,channels=1 ! %s ! aacparse ! rtpmp4gpay name=pay1 pt=97" % enc)
    sys.exit("no AAC encoder (voaacenc, avenc_aac, fdkaacenc)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--audio", choices=["pcma", "pcmu", "aac"])
    ap.add_argument("--video-delay-ms", type=int, default=0,
                    help="hold encoded video this long before it is sent, as a camera whose video encoder lags")
    args = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    factory = GstRtspServer.RTSPMediaFactory()
    delay = ""
    if args.video_delay_ms > 0:
        delay = ("! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 min-threshold-time=%d "
                 % (args.video_delay_ms * 1000000))
    audio = ""
    if args.audio == "aac":
        audio = aac_launch()
    elif args.audio:
        audio = AUDIO[args.audio]
    factory.set_launch(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 " + delay +
        "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 " + audio + " )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    loop = GLib.MainLoop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.quit()), daemon=True).start()
    loop.run()


if __name__ == "__main__":
    main()
