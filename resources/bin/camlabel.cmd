@echo off
rem The camlabel command of the installed app (see resources/bin/camlabel): with no argument, or
rem only a project file, it starts the app; otherwise it runs the bundled command line on the
rem app's own Electron as plain Node. It lies in <install>\resources\bin.
setlocal
set "APP=%~dp0..\..\camlabel.exe"
if "%~1"=="" ( start "" "%APP%" & exit /b 0 )
if "%~2"=="" if /i "%~x1"==".camlabel" ( start "" "%APP%" "%~1" & exit /b 0 )
set ELECTRON_RUN_AS_NODE=1
"%APP%" "%~dp0..\app.asar\out\main\cli.js" %*
exit /b %ERRORLEVEL%
