# The Debian package, made by CPack's DEB generator from the install() rules (tools/package runs
# it; README.md here says what goes where and why). Included at the end of the top CMakeLists.txt.

set(LINTEL_DEB_MAINTAINER "Lintel maintainers <maintainers@users.noreply.h-seed-8111d39c.example>")
# The changelog's date: SOURCE_DATE_EPOCH when set (reproducible builds), else the configure time.
string(TIMESTAMP LINTEL_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_CURRENT_LIST_DIR}/changelog.in ${PROJECT_BINARY_DIR}/packaging/changelog @ONLY)

# Only the package installs these (component deb, not part of a plain `cmake --install`): the
# conffile must never overwrite an installer's /etc/lintel/lintel.yaml, and Debian's copyright
# and changelog files mean nothing outside a package.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/lintel.yaml DESTINATION /etc/lintel
  COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/copyright ${PROJECT_BINARY_DIR}/packaging/changelog
  DESTINATION share/doc/lintel COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lintel)
# CPACK_PACKAGE_VERSION defaults to project(VERSION): lintel_<version>_<arch>.deb, a native package.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Everything installed by default, plus component deb above.
set(CPACK_INSTALL_CMAKE_PROJECTS
  "${PROJECT_BINARY_DIR};lintel;ALL;/" "${PROJECT_BINARY_DIR};lintel;deb;/")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${LINTEL_DEB_MAINTAINER}")
set(CPACK_PACKAGE_CONTACT "${LINTEL_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "on-premises access gateway for apartment buildings")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Lintel runs on a small Linux box in a building's network closet
and decides every door locally from a SQLite-backed cache: Wiegand readers
and keypads, Modbus door I/O modules, Nuki Bluetooth locks and IP intercom
panels. It keeps deciding correctly when the internet, the broker or the
cloud is gone: lease ends, move-outs, unpaid rent and revocations are
enforced offline. The property-management system in the cloud is the
source of truth, over signed MQTT messages.
.
This package holds the daemon (lintel), its systemd unit and the
command-line tool lintelctl.")
# Depends: the libraries, from the binaries (dpkg-shlibdeps), plus what the maintainer scripts run:
# systemd-sysusers and systemd-tmpfiles. deb-systemd-helper (init-system-helpers) is required by
# Debian and every script checks for it anyway.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
# lintel and lintelctl are stripped; their debug info goes to lintel-dbgsym_<version>_<arch>.ddeb
# (/usr/lib/debug/.build-id/, found by gdb and debuginfod through the build id).
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/postinst
  ${CMAKE_CURRENT_LIST_DIR}/prerm ${CMAKE_CURRENT_LIST_DIR}/postrm
  ${CMAKE_CURRENT_LIST_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Before the files are packed: man pages and the changelog compressed as Debian policy asks.
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/deb_pre_build.cmake)
include(CPack)
