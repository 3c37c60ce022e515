"use strict";
// Every page has registered its route: render the one in the address bar.
PW.start();
