package admin

import "vahti/configs"

// The admin server's camera list starts as the config's and follows live
// reloads (SetCameras), so a camera the recorder starts on a reload shows on
// the dashboard, day, play, export and hold pages without a restart. Every
// "is this a camera" check of a URL or form goes through it.

// SetCameras replaces the cameras the UI shows and accepts (the service
// calls it after a reload applied cameras.*). The slice is copied.
func (s *Server) SetCameras(cams []configs.Camera) {
	cp := append([]configs.Camera(nil), cams...)
	s.cams.Store(&cp)
}

// cameras is the current list, in config order; callers must not modify it.
func (s *Server) cameras() []configs.Camera {
	if p := s.cams.Load(); p != nil {
		return *p
	}
	return s.cfg.Cfg.Cameras
}

// camera is the configured camera id, if any.
func (s *Server) camera(id string) (configs.Camera, bool) {
	for _, c := range s.cameras() {
		if c.ID == id {
			return c, true
		}
	}
	return configs.Camera{}, false
}

// cameraIDs lists the current cameras' ids, in config order.
func (s *Server) cameraIDs() []string {
	cams := s.cameras()
	out := make([]string, 0, len(cams))
	for _, c := range cams {
		out = append(out, c.ID)
	}
	return out
}
