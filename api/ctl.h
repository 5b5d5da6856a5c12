/* SPDX-License-Identifier: MIT */
#ifndef API_CTL_H
#define API_CTL_H

/* `vmm ctl`: the API's client (ctl.c). argv[0] is "ctl". Returns the exit status. */
int ctl_main(int argc, char **argv);

#endif
