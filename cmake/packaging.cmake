# Installation and the Debian package. `cmake --install build` (a source
# install, /usr/local by default) and `make package` (CPack's DEB generator,
# which installs the same rules with the prefix /usr into a staging folder)
# share the install rules below; docs/operations.md, "Installing from the
# Debian package", says what goes where and why.
#
# Where the files go depends on the prefix *at install time*, not at
# configure time: one build tree serves a source install under /usr/local and
# the package under /usr. GNUInstallDirs' CMAKE_INSTALL_FULL_SYSCONFDIR is
# fixed when configuring (/usr/local/etc for the default prefix), so the
# package would get /usr/etc; instead the install script resolves the
# folders below with GNUInstallDirs' own special case: the prefix /usr (and
# /) keeps its configuration in /etc, any other prefix in PREFIX/etc. For
# /usr the unit goes to /lib/systemd/system, where Debian 12 packages put
# units; otherwise to PREFIX/lib/systemd/system, which systemd also reads.
# The unit names /usr/bin and /etc/orderflow; for another prefix the installed
# copy names the folders the files were actually installed to.
include(GNUInstallDirs)

set(orderflow_staging ${CMAKE_BINARY_DIR}/packaging)

# The folders that depend on the prefix, decided when installing. install()
# takes a DESTINATION that does not start with "/" as relative to the prefix,
# so these are written "/${orderflow_etc}", the variable holding the path
# without its leading slash.
install(CODE [[
  string(REGEX REPLACE "/+$" "" orderflow_prefix "${CMAKE_INSTALL_PREFIX}")
  string(REGEX REPLACE "^/+" "" orderflow_prefix_rel "${orderflow_prefix}")
  if(orderflow_prefix STREQUAL "/usr" OR orderflow_prefix STREQUAL "")
    set(orderflow_etc "etc")
    set(orderflow_unitdir "lib/systemd/system")
  else()
    set(orderflow_etc "${orderflow_prefix_rel}/etc")
    set(orderflow_unitdir "${orderflow_prefix_rel}/lib/systemd/system")
  endif()
]])
# The unit and the tmpfiles entry name /usr/bin and /etc/orderflow: rewritten
# for the prefix (no change for /usr) into the build tree, then installed.
foreach(file systemd/orderflow.service packaging/orderflow.tmpfiles)
  get_filename_component(name ${file} NAME)
  install(CODE "
    file(READ \"${CMAKE_SOURCE_DIR}/${file}\" text)
    string(REPLACE \"/usr/bin/\" \"\${orderflow_prefix}/${CMAKE_INSTALL_BINDIR}/\" text \"\${text}\")
    string(REPLACE \"/etc/orderflow\" \"/\${orderflow_etc}/orderflow\" text \"\${text}\")
    file(WRITE \"${orderflow_staging}/installed/${name}\" \"\${text}\")
  ")
endforeach()

install(TARGETS orderflowd orderflowctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${orderflow_staging}/installed/orderflow.service DESTINATION /\${orderflow_unitdir})
# The user and its folders: systemd-sysusers and systemd-tmpfiles read
# PREFIX/lib/sysusers.d and PREFIX/lib/tmpfiles.d for /usr and /usr/local.
install(FILES packaging/orderflow.sysusers DESTINATION lib/sysusers.d RENAME orderflow.conf)
install(FILES ${orderflow_staging}/installed/orderflow.tmpfiles DESTINATION lib/tmpfiles.d RENAME orderflow.conf)
# The example configuration and rules: conffiles in the package, so that an
# upgrade never overwrites the operator's edits.
install(FILES etc/orderflow/orderflow.json DESTINATION /\${orderflow_etc}/orderflow)
install(DIRECTORY etc/orderflow/rules DESTINATION /\${orderflow_etc}/orderflow)
# Reference material the operator reads but does not edit: the rules' JSON
# Schema (for editors) and the fixture tests of the example rules
# (orderflowctl rules test /usr/share/orderflow/rules-tests/*.json --rules /etc/orderflow/rules).
install(FILES etc/orderflow/rules.schema.json DESTINATION ${CMAKE_INSTALL_DATADIR}/orderflow)
install(DIRECTORY etc/orderflow/rules-tests DESTINATION ${CMAKE_INSTALL_DATADIR}/orderflow)
# The docs keep the repository's layout, so that README.md's links to
# docs/*.md work; uncompressed, so that the unit's Documentation= link works.
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB orderflow_docs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${orderflow_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
# The staff console's screenshots, which docs/operations.md shows.
file(GLOB orderflow_doc_images CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/console/*.png)
install(FILES ${orderflow_doc_images} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs/console)

# ---------------------------------------------------------------- Debian package
# Debian's copyright file (machine-readable format) is made from LICENSE, so
# the two cannot drift apart: the title and copyright lines become fields,
# the rest the licence text.
file(READ ${CMAKE_SOURCE_DIR}/LICENSE orderflow_license)
if(NOT orderflow_license MATCHES "\nCopyright \\(c\\) ([^\n]+)\n+(.+)$")
  message(FATAL_ERROR "LICENSE has no \"Copyright (c) ...\" line followed by the licence text; cmake/packaging.cmake expects one")
endif()
set(orderflow_copyright "${CMAKE_MATCH_1}")
string(STRIP "${CMAKE_MATCH_2}" orderflow_license_body)
# Every line indented by one space, an empty line written " ." (deb-control(5)).
string(REPLACE "\n" "\n " orderflow_license_body "${orderflow_license_body}")
string(REPLACE "\n \n" "\n .\n" orderflow_license_body "${orderflow_license_body}")
configure_file(packaging/copyright.in ${orderflow_staging}/copyright @ONLY)
install(FILES ${orderflow_staging}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The package's version is the changelog's latest entry, which must be this
# project's version with a Debian revision ("0.1.0-1").
file(STRINGS packaging/changelog orderflow_changelog_top LIMIT_COUNT 1)
if(NOT orderflow_changelog_top MATCHES "^orderflow \\(([^-)]+)-([^)]+)\\)")
  message(FATAL_ERROR "packaging/changelog: the first line must be \"orderflow (VERSION-REVISION) ...\"")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "packaging/changelog's latest entry is version ${CMAKE_MATCH_1}, the project is ${PROJECT_VERSION}: add an entry")
endif()
set(CPACK_DEBIAN_PACKAGE_RELEASE ${CMAKE_MATCH_2})
# The changelog and the manual pages, compressed as Debian policy asks
# (gzip -9, no name or time stamp in it, so the same input gives the same bytes).
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  packaging/changelog packaging/orderflowd.1 packaging/orderflowctl.1 LICENSE packaging/copyright.in)
foreach(file changelog orderflowd.1 orderflowctl.1)
  execute_process(COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/packaging/${file}
    OUTPUT_FILE ${orderflow_staging}/${file}.gz COMMAND_ERROR_IS_FATAL ANY)
endforeach()
install(FILES ${orderflow_staging}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME changelog.Debian.gz)
install(FILES ${orderflow_staging}/orderflowd.1.gz ${orderflow_staging}/orderflowctl.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
# Lintian's warnings that do not apply to this package, each with the reason.
install(FILES packaging/orderflow.lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME orderflow)

# dpkg keeps the operator's version of these on upgrade (and asks when both
# changed); rules files added by the operator are not the package's at all.
file(GLOB orderflow_rule_files CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/etc/orderflow/rules/*)
list(PREPEND orderflow_rule_files etc/orderflow/orderflow.json)
list(TRANSFORM orderflow_rule_files PREPEND /)
list(JOIN orderflow_rule_files "\n" orderflow_conffiles)
file(WRITE ${orderflow_staging}/conffiles "${orderflow_conffiles}\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME orderflow)
set(CPACK_PACKAGE_VENDOR "The orderflow authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TikTok Shop order-flow automation daemon")
set(ORDERFLOW_PACKAGE_MAINTAINER "orderflow maintainers <maintainers@orderflow.example>"
  CACHE STRING "The Maintainer field of the Debian package (Name <address>)")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${ORDERFLOW_PACKAGE_MAINTAINER}")
# The extended description; CPack puts the summary above it as the synopsis
# and indents it as deb-control(5) asks.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "orderflow runs one TikTok Shop seller's order flow unattended: it takes in
TikTok Shop webhooks, runs operator-edited rules, and sends predefined buyer
messages, each at most once, across redeliveries, restarts, crashes and
reloads. It ships packages from a warehouse's tracking feed and keeps a
review queue of what needs a person.

This package contains the daemon (orderflowd), its command-line tool
(orderflowctl), a hardened systemd unit, and an example configuration. The
service is neither enabled nor started on installation: it needs the shop's
secrets and authorization first.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Library dependencies come from dpkg-shlibdeps; these are what the binaries
# use without linking: the CA store for TikTok's certificates, the zone
# database for `timezone`, and whatever provides systemd-sysusers and
# systemd-tmpfiles for the postinst (the alternatives debhelper lists).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "ca-certificates, tzdata, systemd | systemd-standalone-sysusers | systemd-sysusers, systemd | systemd-standalone-tmpfiles")
set(CPACK_STRIP_FILES ON)
# The maintainer scripts are read from packaging/ when cpack runs; with
# STRICT_PERMISSION CPack gives them mode 0755 and the conffiles list 0644,
# whatever the checkout's umask made of them.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${orderflow_staging}/conffiles
  ${CMAKE_SOURCE_DIR}/packaging/postinst ${CMAKE_SOURCE_DIR}/packaging/prerm ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
