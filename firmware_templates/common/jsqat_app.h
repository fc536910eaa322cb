// The application's two entry points, called by each platform's main.
#ifndef JSQAT_APP_H_
#define JSQAT_APP_H_

// Builds the interpreter and runs the self-test; returns true when every golden output matched.
bool jsqat_setup();
// Serves framed inference requests from the host link; call it repeatedly.
void jsqat_loop();

#endif  // JSQAT_APP_H_
