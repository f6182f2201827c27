# package.cmake: `cpack -G DEB` from the build directory makes sysvmq_<version>_<arch>.deb
# with everything `cmake --install` puts down, under /usr (config in /etc/sysvmq).
set(CPACK_PACKAGE_NAME sysvmq)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "sysvmq maintainers <maintainers@users.noreply.r-seed-c292e1ea.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "System V message queues served by a user-space broker")
set(CPACK_PACKAGE_DESCRIPTION
  "sysvmqd serves msgget, msgsnd, msgrcv and msgctl over a Unix-domain socket with the\n"
  "Linux kernel's semantics. libsysvmq is its client library (C and C++),\n"
  "libsysvmq_preload.so serves unmodified programs' msg* calls, and sysvmq is the\n"
  "command line. Socket-activated systemd units are included.")
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(CPACK_GENERATOR DEB)
# Install with CMAKE_INSTALL_PREFIX=/usr under DESTDIR, whatever the build's own prefix,
# so the install-time files (units, sysvmq.pc) name /usr and the config lands in /etc.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles "/etc/sysvmq/sysvmqd.json\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/debian/conffiles)
include(CPack)
