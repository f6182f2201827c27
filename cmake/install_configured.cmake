# install_configured.cmake: run by `cmake --install` (and by cpack), after the root
# CMakeLists.txt has set SYSVMQ_SOURCE_DIR, SYSVMQ_BINARY_DIR, SYSVMQ_VERSION and the
# relative SYSVMQ_*DIR. Writes the files whose text names install paths — the systemd
# units and sysvmq.pc — for CMAKE_INSTALL_PREFIX as it is now (`--prefix`, or /usr under
# cpack with DESTDIR), not as it was at configure time, and installs the default config.
# file(INSTALL) adds $ENV{DESTDIR} itself and records every file in install_manifest.txt.
set(prefix "${CMAKE_INSTALL_PREFIX}")

# GNUInstallDirs' rule for the configuration directory: /etc for /usr, /etc/opt/... for
# /opt/..., <prefix>/etc otherwise.
if(prefix STREQUAL "/usr")
  set(sysconfdir "/etc")
elseif(prefix MATCHES "^/opt/")
  set(sysconfdir "/etc${prefix}")
else()
  set(sysconfdir "${prefix}/etc")
endif()

foreach(kind SBINDIR LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${SYSVMQ_${kind}}")
    set(full_${kind} "${SYSVMQ_${kind}}")
  else()
    set(full_${kind} "${prefix}/${SYSVMQ_${kind}}")
  endif()
endforeach()

# The names the unit templates use.
set(CMAKE_INSTALL_FULL_SBINDIR "${full_SBINDIR}")
set(CMAKE_INSTALL_FULL_SYSCONFDIR "${sysconfdir}")
# One staging directory per destination: installs to different prefixes may run at once.
string(MD5 destination "$ENV{DESTDIR}${prefix}")
set(staging "${SYSVMQ_BINARY_DIR}/install-configured/${destination}")
foreach(scope system user)
  if(scope STREQUAL "system")
    set(from "${SYSVMQ_SOURCE_DIR}/systemd")
  else()
    set(from "${SYSVMQ_SOURCE_DIR}/systemd/user")
  endif()
  configure_file("${from}/sysvmqd.service.in" "${staging}/${scope}/sysvmqd.service" @ONLY)
  file(INSTALL DESTINATION "${prefix}/lib/systemd/${scope}" TYPE FILE
       FILES "${staging}/${scope}/sysvmqd.service" "${from}/sysvmqd.socket")
endforeach()

set(includedir "${full_INCLUDEDIR}")
set(libdir "${full_LIBDIR}")
configure_file("${SYSVMQ_SOURCE_DIR}/client/sysvmq.pc.in" "${staging}/sysvmq.pc" @ONLY)
file(INSTALL DESTINATION "${libdir}/pkgconfig" TYPE FILE FILES "${staging}/sysvmq.pc")

# The defaults, as sysvmqd.8 lists them; a conffile in the .deb.
file(INSTALL DESTINATION "${sysconfdir}/sysvmq" TYPE FILE
     FILES "${SYSVMQ_SOURCE_DIR}/daemon/sysvmqd.json")
