// The one translation unit that compiles the Asio, Asio-SSL and Beast
// implementations (BOOST_*_SEPARATE_COMPILATION is set for every user of
// orderflow::tikapi). On a two-core machine this saves minutes per build.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
